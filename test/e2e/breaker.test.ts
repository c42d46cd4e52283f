/**
 * The breaker per user and tool (work:backoff) through the API and the worker: a tool that
 * fails on purpose (`shell false`) BREAKER_FAILURES times in a row is refused for that user
 * (the step fails with "unavailable until T", nothing runs), while other tools and other
 * users go on; /v1/me and the operators' /v1/queue/breakers show it open; an operator's
 * reset lets the tool run again, and a success closes the record.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mintToken } from '../helpers/auth.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

const OPERATOR = `ops-${randomBytes(4).toString('hex')}`;

describe('the tool breaker per user', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let alice: string;
  let bob: string;
  const tokens: Record<string, string> = {};

  const call = async (who: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${api!.url}${path}`, {
      method, headers: { authorization: `Bearer ${tokens[who]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const runToEnd = async (who: string, prompt: string) => {
    const started = await call(who, 'POST', '/v1/runs', { prompt });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    return waitUntil('run ended', async () => {
      const r = await call(who, 'GET', `/v1/runs/${String(started.body.id)}`);
      return ['completed', 'failed', 'cancelled'].includes(String(r.body.status)) ? r.body as { status: string; steps: { ok: boolean; summary: string }[] } : undefined;
    }, 60_000);
  };

  before(async () => {
    c = await connectClients();
    alice = await newUser(c, 10_000, 'breaker-a');
    bob = await newUser(c, 10_000, 'breaker-b');
    const env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('breaker'), AUTH_OPERATORS: OPERATOR, BREAKER_FAILURES: '3', BREAKER_COOLDOWN_S: '600' };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
    for (const u of [alice, bob, OPERATOR]) tokens[u] = await mintToken(u);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c?.close();
  });

  it('opens after BREAKER_FAILURES failed steps in a row: the tool is refused for that user only, with when it opens again', async () => {
    for (let i = 0; i < 3; i += 1) assert.equal((await runToEnd(alice, 'shell false')).status, 'failed');
    const refused = await runToEnd(alice, 'write_file ok.txt still fine\nshell echo hello');
    assert.equal(refused.status, 'failed');
    assert.equal(refused.steps[0]!.ok, true, 'another tool still runs');
    assert.match(refused.steps[1]!.summary, /^shell is unavailable to you until \d{4}-\d\d-\d\dT[\d:.]+Z: it failed 3 time\(s\) in a row \(its breaker is open\)$/);
    assert.equal((await runToEnd(bob, 'shell echo hello')).status, 'completed', 'another user is not affected');
    const me = await call(alice, 'GET', '/v1/me');
    assert.deepEqual((me.body.breakers as { tool: string; failures: number; open: boolean }[]).map(({ tool, failures, open }) => ({ tool, failures, open })), [{ tool: 'shell', failures: 3, open: true }]);
    assert.deepEqual((await call(bob, 'GET', '/v1/me')).body.breakers, []);
    const cli = spawnSync(process.execPath, [fileURLToPath(new URL('../../bin/agentrun.js', import.meta.url)), 'me'], {
      env: { ...process.env, AGENTRUN_URL: api!.url, AGENTRUN_TOKEN: tokens[alice], AGENTRUN_CONFIG: '/nonexistent/agentrun.json' }, encoding: 'utf8',
    });
    assert.match(cli.stdout, /^shell: refused until \d{4}-[\d:.T-]+Z \(its breaker is open\), 3 failure\(s\) in a row$/m, cli.stderr);
    const listed = await call(OPERATOR, 'GET', '/v1/queue/breakers');
    assert.ok((listed.body.breakers as { userId: string; tool: string; open: boolean }[]).some((b) => b.userId === alice && b.tool === 'shell' && b.open));
    assert.equal((await call(alice, 'GET', '/v1/queue/breakers')).status, 403, 'operators only');
  });

  it('an operator\'s reset lets the tool run again, and a success clears the record', async () => {
    const reset = await call(OPERATOR, 'DELETE', `/v1/queue/breakers/${alice}/shell`);
    assert.deepEqual([reset.status, reset.body.reset], [200, true]);
    assert.equal((await runToEnd(alice, 'shell false')).status, 'failed', 'one failure does not open it');
    assert.equal((await runToEnd(alice, 'shell echo back')).status, 'completed');
    assert.deepEqual((await call(alice, 'GET', '/v1/me')).body.breakers, [], 'a success closes the record');
    assert.equal((await call(OPERATOR, 'DELETE', `/v1/queue/breakers/${alice}/shell`)).status, 404);
  });
});
