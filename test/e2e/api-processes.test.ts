/**
 * Several API processes on one host (API_REUSE_PORT): they share API_PORT, the kernel spreads
 * connections among them, and a run's followers get every event once, in order, whichever
 * process holds their stream. A process without the setting cannot take the port.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freeLoopbackPort } from '../../src/infra/free-port.ts';
import { authHeaders } from '../helpers/auth.ts';
import { assertRefused, boot } from '../helpers/boot.ts';
import { collect } from '../helpers/runs.ts';
import { connectClients, metricsUrl, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

const FOLLOWERS = 16;

describe('API processes sharing one port (API_REUSE_PORT)', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let apis: (Proc & { url: string })[] = [];
  let env: Record<string, string>;

  before(async () => {
    c = await connectClients();
    const user = await newUser(c, 1000, 'procs');
    const port = String(await freeLoopbackPort());
    env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('procs'), DEFAULT_USER_ID: user, QUEUE_CONSUMER: 'false', API_REUSE_PORT: 'true', API_PORT: port };
    const started = await Promise.all([startWorker(env), startApi(env), startApi(env)]);
    worker = started[0];
    apis = started.slice(1) as (Proc & { url: string })[];
  });
  after(async () => {
    await Promise.all([...apis.map((a) => stop(a)), stop(worker)]);
    await c?.close();
  });

  const sseClients = async (api: Proc) => {
    const text = await (await fetch(metricsUrl(api))).text();
    return Number(/^agentrun_sse_clients (\d+)/m.exec(text)?.[1] ?? 'NaN');
  };

  it('both listen on the port; a run\'s followers are spread over both and each gets every event once, in order', async () => {
    assert.equal(apis[0]!.url, apis[1]!.url, 'one address');
    const base = apis[0]!.url;
    const prompt = 'shell sh -c "for i in 1 2 3 4 5 6 7 8 9 10; do echo line-$i; done"\nwrite_file done.txt yes';
    const res = await fetch(`${base}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders(base) }, body: JSON.stringify({ prompt, requireApproval: true }) });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    await waitUntil('the plan awaits approval', async () => (await c.store.getRun(id))?.status === 'awaiting_approval');
    // Each follower is a connection of its own: the kernel hands each to one of the processes.
    const followers = Array.from({ length: FOLLOWERS }, () => collect(base, id, { timeoutMs: 120_000 }));
    const held = await waitUntil('every follower connected', async () => {
      const n = await Promise.all(apis.map(sseClients));
      return n[0]! + n[1]! === FOLLOWERS ? n : undefined;
    });
    assert.ok(held.every((n) => n > 0), `streams per process: ${held.join(', ')} (both take connections)`);
    const approve = await fetch(`${base}/v1/runs/${id}/approve`, { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders(base) }, body: JSON.stringify({ approved: true }) });
    assert.equal(approve.status, 202);
    const got = await Promise.all(followers);
    const whole = await collect(base, id);
    assert.equal(whole.at(-1)?.event, 'end');
    assert.ok(whole.some((m) => m.data.includes('line-10')), 'the step\'s lines are on the stream');
    for (const [i, seen] of got.entries()) assert.deepEqual(seen.map((m) => m.id), whole.map((m) => m.id), `follower ${i}: every event once, in order`);
  });

  it('a process without API_REUSE_PORT cannot take the shared port: it refuses to start, naming the address', async () => {
    const r = await boot('api', { ...env, API_REUSE_PORT: 'false' });
    assertRefused(r, 'api', new RegExp(`cannot listen on 127\\.0\\.0\\.1:${env.API_PORT}: .*EADDRINUSE`));
  });
});
