/**
 * The breaker per user and tool (work:backoff) through the API and the worker: a tool that
 * fails on purpose (`shell false`) BREAKER_FAILURES times in a row is refused for that user
 * (the step fails with "unavailable until T", nothing runs), while other tools and other
 * users go on; /v1/me and the operators' /v1/queue/breakers show it open; an operator's
 * reset lets the tool run again, and a success closes the record. Tools that call outside
 * services (fetch_url against a local site that answers 503): each attempt Temporal makes
 * counts, the one that opens the breaker ends the step with "unavailable until T" and its
 * reason and charges nothing, and with the breaker never opening the step ends after its 5
 * attempts; a model (the Anthropic fake) told a tool is unavailable replans to another, and
 * the run completes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ToolBreaker } from '../../src/infra/breaker.ts';
import { mintToken } from '../helpers/auth.ts';
import { FakeAnthropic, toolUse } from '../helpers/fake-anthropic.ts';
import * as runs from '../helpers/runs.ts';
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

describe('the breaker of tools that call outside services', () => {
  const fake = new FakeAnthropic();
  let c: Clients;
  let site: Server;
  let siteUrl: string;
  const hits: Record<string, number> = {};
  const procs: (Proc | undefined)[] = [];
  let counted: { api: string; user: string };
  let capped: { api: string; user: string };
  let planned: { api: string; user: string };

  /** A worker and an API on their own queue, for a new user; `extra` env on both. */
  async function pair(name: string, extra: Record<string, string>) {
    const user = await newUser(c, 10_000, name);
    const env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue(name), DEFAULT_USER_ID: user, FETCH_ALLOW_HOSTS: new URL(siteUrl).host, OUTSIDE_RETRY_MS: '100', ...extra };
    const [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
    procs.push(worker, api);
    return { api: api.url, user };
  }
  const usageOf = (events: { event: string; data: Record<string, unknown> }[], what: string) =>
    events.filter((e) => e.event === 'usage' && e.data.what === what);

  before(async () => {
    c = await connectClients();
    await fake.start();
    site = createServer((req, res) => {
      hits[req.url!] = (hits[req.url!] ?? 0) + 1;
      if (req.url!.startsWith('/ok')) res.writeHead(200, { 'content-type': 'text/plain' }).end('fine');
      else res.writeHead(503, { 'content-type': 'text/plain' }).end('down for maintenance');
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    [counted, capped, planned] = await Promise.all([
      pair('outside-counted', { BREAKER_FAILURES: '3', BREAKER_COOLDOWN_S: '600' }),
      pair('outside-capped', { BREAKER_FAILURES: '10', BREAKER_COOLDOWN_S: '600' }),
      pair('outside-llm', { BREAKER_FAILURES: '3', BREAKER_COOLDOWN_S: '600', LLM_PROVIDER: 'anthropic', ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_MODEL: 'claude-sonnet-4-5' }),
    ]);
  });
  after(async () => {
    await Promise.all(procs.map((p) => stop(p)));
    await new Promise((resolve) => site?.close(resolve));
    await fake.stop();
    await c?.close();
  });

  it('each attempt the site fails counts: the third opens the breaker and ends the step, unavailable until T, with the reason, charged nothing', async () => {
    const { events, view } = await runs.runToEnd(counted.api, `fetch_url ${siteUrl}/down-counted`, 120_000);
    assert.equal(view.status, 'failed');
    assert.match(view.error?.message ?? '', /fetch_url is unavailable to you until \d{4}-[\d:.T-]+Z: it failed 3 time\(s\) in a row \(its breaker is open\); the last time: GET http:\/\/127\.0\.0\.1:\d+\/down-counted answered 503$/);
    assert.equal(hits['/down-counted'], 3, 'Temporal retried it twice; the breaker ended it at the third');
    assert.deepEqual(usageOf(events, 'step 0 (fetch_url)'), [], 'no charge for the step');
    const b = new ToolBreaker(c.redis, { failures: 3, cooldownS: 600, maxCooldownS: 3600 });
    assert.equal((await b.state(counted.user, 'fetch_url'))?.open, true);
    await b.reset(counted.user, 'fetch_url');
  });

  it('a breaker that does not open: the step ends after its 5 attempts, saying so', async () => {
    const { view } = await runs.runToEnd(capped.api, `fetch_url ${siteUrl}/down-capped`, 180_000);
    assert.equal(view.status, 'failed');
    assert.match(view.error?.message ?? '', /GET http:\/\/127\.0\.0\.1:\d+\/down-capped answered 503 \(attempt 5 of 5: not tried again\)/);
    assert.equal(hits['/down-capped'], 5);
    await new ToolBreaker(c.redis, { failures: 10, cooldownS: 600, maxCooldownS: 3600 }).reset(capped.user, 'fetch_url');
  });

  it('the model is told the tool is unavailable until T, replans to another tool, and the run completes', async () => {
    const b = new ToolBreaker(c.redis, { failures: 3, cooldownS: 600, maxCooldownS: 3600 });
    for (let i = 0; i < 3; i += 1) await b.record(planned.user, 'fetch_url', false);
    const before = fake.requests.length;
    fake.push(
      toolUse('submit_plan', { summary: 'fetch it', steps: [{ tool: 'fetch_url', url: `${siteUrl}/ok-planned`, path: 'page.txt' }] }),
      toolUse('decide', { decision: { action: 'replan', reason: 'fetch_url is unavailable; write the note instead' } }),
      toolUse('submit_plan', { summary: 'note', steps: [{ tool: 'write_file', path: 'note.txt', content: 'fetch_url was unavailable' }] }),
      toolUse('decide', { decision: { action: 'finish', reason: 'noted', outcome: 'completed' } }),
    );
    const { id, events, view } = await runs.runToEnd(planned.api, 'Fetch the page, or note why not.', 90_000);
    assert.equal(view.status, 'completed', JSON.stringify(view.error));
    assert.equal(fake.pending, 0);
    const [, supervise, replan] = fake.requests.slice(before);
    const refusal = /fetch_url is unavailable to you until \d{4}-[\d:.T-]+Z: it failed 3 time\(s\) in a row \(its breaker is open\)/;
    assert.equal(supervise!.body.tool_choice?.name, 'decide');
    assert.match(JSON.stringify(supervise!.body.messages), refusal, 'the supervisor call carries the refusal');
    assert.equal(replan!.body.tool_choice?.name, 'submit_plan');
    assert.match(JSON.stringify(replan!.body.messages), /fetch_url is unavailable; write the note instead/, 'the replan says why');
    assert.equal(hits['/ok-planned'], undefined, 'the refused step never reached the site');
    assert.deepEqual(usageOf(events, 'step 0 (fetch_url)'), [], 'the refused step is charged nothing');
    assert.equal(usageOf(events, 'step 1 (write_file)').length, 1, 'the step of the new plan is');
    const steps = (await (await fetch(`${planned.api}/v1/runs/${id}`, { headers: { authorization: `Bearer ${await mintToken(planned.user)}` } })).json()) as { steps: { tool: string; ok: boolean }[] };
    assert.deepEqual(steps.steps.map((st) => [st.tool, st.ok]), [['fetch_url', false], ['write_file', true]]);
    await b.reset(planned.user, 'fetch_url');
  });
});
