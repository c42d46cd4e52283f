/**
 * The CLI's one-shot commands: login, status, list, the controls, message, files, me, and
 * the operators' queue, breakers and credits. Each prints for people, or one JSON document with
 * `--json`; refusals come back as the API's errors (src/cli/main.ts prints them).
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ApiClient } from '../client/api.ts';
import type { Account, Breaker, RunView } from '../client/api.ts';
import type { Terminal } from './render.ts';
import { UsageError, writeSettings } from './settings.ts';

const table = (rows: string[][]) => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
};

/** A secret typed at the terminal without echo, or the whole of stdin when it is not a terminal. */
async function readSecret(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let all = '';
    for await (const chunk of stdin) all += String(chunk);
    return all.trim();
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  let value = '';
  try {
    for await (const chunk of stdin) {
      for (const ch of String(chunk)) {
        if (ch === '\r' || ch === '\n') return value;
        if (ch === '\u0003') throw new UsageError('login cancelled');
        if (ch === '\u007f') value = value.slice(0, -1);
        else value += ch;
      }
    }
    return value;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

export async function login(term: Terminal, url: string, token: string | undefined): Promise<void> {
  const secret = token ?? await readSecret(`Token for ${url} (not shown): `);
  if (!secret) throw new UsageError('no token given');
  const me = await new ApiClient(url, () => secret).me();
  writeSettings({ url, token: secret });
  if (term.json) term.doc({ url, userId: me.userId, balance: me.balance });
  else term.line(`signed in to ${url} as ${me.userId} (${me.balance.available} credits available)`);
}

export function showRun(term: Terminal, run: RunView): void {
  if (term.json) return term.doc(run);
  term.line(`${run.id}  ${run.status}  ${run.usage.credits} credit(s)  created ${run.createdAt}${run.closedAt ? `, ended ${run.closedAt}` : ''}`);
  const planned = (run.plan?.steps ?? []) as { tool?: string }[];
  if (planned.length) term.line(`plan: ${planned.map((s) => s.tool).join(', ')}`);
  for (const s of run.steps) term.line(`  ${s.ok ? '✔' : '✖'} step ${s.index + 1} ${s.tool}  ${(s.durationMs / 1000).toFixed(1)}s  ${s.summary}`);
  if (run.error) term.line(`error: ${run.error.code}: ${run.error.message}`);
}

export async function list(client: ApiClient, term: Terminal, q: { status?: string; limit: number }): Promise<void> {
  const page = await client.listRuns(q);
  if (term.json) return term.doc(page);
  if (page.runs.length === 0) return term.line('no runs');
  term.line(table([['RUN', 'STATUS', 'CREDITS', 'CREATED', 'PROMPT'],
    ...page.runs.map((r) => [r.id, r.status, String(r.usage.credits), r.createdAt, r.promptPreview.replace(/\s+/g, ' ').slice(0, 60)])]));
  if (page.nextCursor) term.note(`(more: --limit ${q.limit * 2})`);
}

export async function control(client: ApiClient, term: Terminal, id: string, action: 'cancel' | 'pause' | 'resume' | 'approve' | 'messages', body?: unknown): Promise<void> {
  const r = await client.control(id, action, body);
  if (term.json) term.doc(r);
  else term.line(`${id}: ${action === 'messages' ? 'message sent' : `${action} sent`} (status ${r.status})`);
}

export async function files(client: ApiClient, term: Terminal, id: string, path: string | undefined, output: string | undefined): Promise<void> {
  if (path === undefined) {
    const all = [];
    let cursor: string | undefined;
    do {
      const page = await client.listFiles(id, cursor);
      all.push(...page.files);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    if (term.json) return term.doc({ files: all });
    if (all.length === 0) return term.line('no files');
    return term.line(table([['SIZE', 'MODIFIED', 'PATH'], ...all.map((f) => [String(f.size), f.lastModified, f.path])]));
  }
  const res = await client.file(id, path);
  const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
  const toStdout = output === undefined || output === '-';
  if (!term.json && toStdout) return pipeline(body, process.stdout, { end: false });
  const meta = { path, size: 0, contentType: res.headers.get('content-type') ?? 'application/octet-stream' };
  if (toStdout) {
    // One JSON document: the content goes in it only as text; bytes that are not UTF-8 need a file.
    const bytes = Buffer.concat(await body.toArray() as Buffer[]);
    let content: string;
    try {
      content = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new UsageError(`${path} is not UTF-8 text, so --json cannot carry it: write it to a file with -o FILE`);
    }
    return term.doc({ ...meta, size: bytes.length, content });
  }
  await pipeline(body, async function* (chunks: AsyncIterable<Buffer>) {
    for await (const chunk of chunks) {
      meta.size += chunk.length;
      yield chunk;
    }
  }, createWriteStream(output));
  if (term.json) term.doc({ ...meta, output });
  else term.note(`${path} → ${output}`);
}

export function showAccount(term: Terminal, a: Account): void {
  if (term.json) return term.doc(a);
  const lim = (l: number | null) => (l === null ? 'no limit' : String(l));
  term.line(`${a.userId}: ${a.balance.available} credits available, ${a.balance.reserved} reserved`);
  term.line(`tokens today: ${a.limits.dailyTokens.used} of ${lim(a.limits.dailyTokens.limit)}; credits this month: ${a.limits.monthlyCost.spent} spent, ${a.limits.monthlyCost.held} held, of ${lim(a.limits.monthlyCost.limit)} (${a.limits.source} limits)`);
  term.line(`runs going: ${a.runs.active} of ${a.runs.allowed}`);
  for (const b of a.breakers ?? []) {
    term.line(`${b.tool}: ${b.open ? `refused until ${b.openUntil ?? '?'} (its breaker is open)` : 'runs'}, ${b.failures} failure(s) in a row`);
  }
}

export async function adjust(client: ApiClient, term: Terminal, user: string, amount: number, note: string, key: string | undefined): Promise<void> {
  const idempotencyKey = key ?? randomUUID();
  const r = await client.adjustCredits(user, amount, note, idempotencyKey);
  if (term.json) return term.doc({ ...r, idempotencyKey });
  term.line(`${user}: ${amount > 0 ? 'granted' : 'deducted'} ${Math.abs(amount)} credit(s)${r.replayed ? ' (already done with this key)' : ''}; ${r.balance.available} available`);
  if (!key) term.note(`(Idempotency-Key ${idempotencyKey}: pass --key ${idempotencyKey} to retry this safely)`);
}

const breakerRows = (bs: Breaker[]) => bs.map((b) => [b.userId, b.tool, b.open ? `open until ${b.openUntil ?? '?'}` : 'closed', String(b.failures)]);

/** The operators' queue view: the jobs:* lists, and the tool breakers open now (those refusing a tool to a user). */
export async function queue(client: ApiClient, term: Terminal): Promise<void> {
  const [stats, { breakers }] = await Promise.all([client.queue(), client.breakers()]);
  const open = breakers.filter((b) => b.open);
  if (term.json) return term.doc({ ...stats, breakers: open });
  term.line(table([['QUEUE', 'ENTRIES', 'OLDEST'], ...Object.entries(stats.queues).map(([name, q]) => [name, String(q.count), q.oldestAgeS === null ? '-' : `${Math.round(q.oldestAgeS)}s`])]));
  term.line('');
  if (open.length === 0) return term.line('no open breakers');
  term.line(table([['USER', 'TOOL', 'BREAKER', 'FAILURES'], ...breakerRows(open)]));
  term.note('(agentrun breakers reset USER TOOL lets the tool run again)');
}

/** The operators' list of tool breakers with failures on record (of one user with `user`), open ones first. */
export async function breakers(client: ApiClient, term: Terminal, user: string | undefined): Promise<void> {
  const bs = (await client.breakers()).breakers.filter((b) => user === undefined || b.userId === user);
  if (term.json) return term.doc({ breakers: bs });
  if (bs.length === 0) return term.line(user === undefined ? 'no breakers' : `no breakers for ${user}`);
  term.line(table([['USER', 'TOOL', 'BREAKER', 'FAILURES'], ...breakerRows(bs)]));
}

export async function resetBreaker(client: ApiClient, term: Terminal, user: string, tool: string): Promise<void> {
  const r = await client.resetBreaker(user, tool);
  if (term.json) return term.doc(r);
  term.line(`${user}: the ${tool} breaker is reset; its steps run again`);
}
