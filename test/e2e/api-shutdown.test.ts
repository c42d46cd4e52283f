/**
 * The API drains on SIGTERM within API_SHUTDOWN_GRACE_MS: it stops accepting, ends every
 * open event stream with a `: shutting down` comment (a clean end, not a reset, so the
 * client reconnects elsewhere with Last-Event-ID and loses nothing), and exits 0 — also
 * when a client keeps a request open past the grace.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { readSse, type SseMessage } from '../../src/client/sse.ts';
import { authHeaders } from '../helpers/auth.ts';
import { collect } from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

describe('API shutdown', () => {
  let c: Clients;
  let env: Record<string, string>;
  let worker: Proc | undefined;
  const apis: Proc[] = [];

  before(async () => {
    c = await connectClients();
    const user = await newUser(c, 1000, 'drain');
    env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('drain'), DEFAULT_USER_ID: user, API_SHUTDOWN_GRACE_MS: '3000', QUEUE_CONSUMER: 'false' };
    worker = await startWorker(env);
  });
  after(async () => {
    await Promise.all([...apis.map((a) => stop(a)), stop(worker)]);
    await c.close();
  });

  async function heldRun(api: string): Promise<string> {
    const res = await fetch(`${api}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders(api) }, body: JSON.stringify({ prompt: 'write_file held.txt x', requireApproval: true }) });
    assert.equal(res.status, 202);
    return ((await res.json()) as { id: string }).id;
  }

  it('on SIGTERM ends open streams with `: shutting down`, refuses new connections, exits 0; a client resumes on another API with nothing lost', async () => {
    const a = await startApi(env);
    apis.push(a);
    const id = await heldRun(a.url);
    const comments: string[] = [];
    const got: SseMessage[] = [];
    const reading = (async () => {
      for await (const m of readSse(`${a.url}/v1/runs/${id}/events`, { headers: authHeaders(a.url), onComment: (t) => comments.push(t) })) got.push(m);
    })();
    await waitUntil('the run awaiting approval on the stream', () => got.some((m) => m.event === 'status' && (JSON.parse(m.data) as { status?: string }).status === 'awaiting_approval'));

    a.child.kill('SIGTERM');
    await reading; // ends cleanly: a reset would reject
    assert.ok(comments.some((t) => t.startsWith('shutting down')), `comments: ${comments.join(' | ')}`);
    const exit = await a.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, a.output().slice(-2000));
    await assert.rejects(fetch(`${a.url}/healthz`), 'a stopped API accepts nothing');

    // The client reconnects to another API process with its last id: the rest, nothing twice.
    const b = await startApi(env);
    apis.push(b);
    await c.temporal.workflow.getHandle(id).signal('approve', { approved: true });
    const rest = await collect(b.url, id, { lastEventId: got.at(-1)!.id, timeoutMs: 120_000 });
    const ids = [...got, ...rest].map((m) => m.id).filter(Boolean);
    assert.equal(new Set(ids).size, ids.length, 'no event twice');
    assert.equal(rest.at(-1)?.event, 'end');
  });

  it('exits within its grace when a client keeps a request open', async () => {
    const a = await startApi(env);
    apis.push(a);
    // A request whose body never finishes: it keeps the connection busy past API_SHUTDOWN_GRACE_MS (3 s).
    const { port, hostname } = new URL(a.url);
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    socket.write(`POST /v1/runs HTTP/1.1\r\nHost: ${hostname}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n${Object.entries(authHeaders(a.url)).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n{"prompt":`);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    a.child.kill('SIGTERM');
    const exit = await a.exited;
    assert.equal(exit.code, 0, a.output().slice(-2000));
    await closed;
    assert.match(a.output(), /"api stopping"/);
  });
});
