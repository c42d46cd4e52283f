/** Helpers that drive runs through the real HTTP API. */
import { readSse } from '../../src/dev/sse-client.ts';
import type { SseMessage } from '../../src/dev/sse-client.ts';
import { authHeaders } from './auth.ts';

export async function createRun(api: string, prompt: string): Promise<string> {
  const res = await fetch(`${api}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders(api) }, body: JSON.stringify({ prompt }) });
  const body = (await res.json()) as { id: string };
  if (res.status !== 202) throw new Error(`create run answered ${res.status}: ${JSON.stringify(body)}`);
  return body.id;
}

/** Reads a run's SSE stream until the server ends it (after `end`), or `stopAfter` messages. */
export async function collect(api: string, runId: string, opts: { lastEventId?: string; stopAfter?: number; timeoutMs?: number } = {}): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`SSE collect of ${runId} timed out`)), opts.timeoutMs ?? 60_000);
  try {
    for await (const m of readSse(`${api}/v1/runs/${runId}/events`, { lastEventId: opts.lastEventId, signal: ac.signal, headers: authHeaders(api) })) {
      out.push(m);
      if (opts.stopAfter !== undefined && out.length >= opts.stopAfter) {
        ac.abort();
        break;
      }
    }
  } catch (err) {
    if (!(opts.stopAfter !== undefined && out.length >= opts.stopAfter)) throw err;
  } finally {
    clearTimeout(timer);
  }
  return out;
}

export const parse = (m: SseMessage) => JSON.parse(m.data) as Record<string, unknown>;
