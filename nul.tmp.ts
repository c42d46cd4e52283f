import { readSse } from './src/client/sse.ts';
const base = process.env.BASE!;
for (const prompt of ['write_file a.txt x\u0000y', 'shell printf "a\\000b"', 'write_file b\u0000.txt x']) {
  const res = await fetch(`${base}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt }) });
  const body = await res.json() as { id?: string };
  console.log(JSON.stringify(prompt), res.status, JSON.stringify(body).slice(0, 200));
  if (!body.id) continue;
  const ac = new AbortController(); const timer = setTimeout(() => ac.abort(), 15000);
  try { for await (const m of readSse(`${base}/v1/runs/${body.id}/events`, { signal: ac.signal } as never)) { if (m.event === 'end' || m.event === 'status') console.log('  ', m.event, m.data.slice(0, 250)); if (m.event === 'end') break; } } catch (e) { console.log('  timeout/err', String(e).slice(0, 100)); }
  clearTimeout(timer);
}
