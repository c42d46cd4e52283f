/**
 * The tool breaker against the real Redis, Postgres and MinIO. ToolBreaker with an
 * injected clock: BREAKER_FAILURES failures open it, each failure after a cooldown reopens
 * it for twice as long up to the cap, failures while it is open (concurrent steps) change
 * nothing, a success closes it. runStep and runPaidStep of fetch_url against a local site
 * that answers 503: each failed attempt counts, the attempt that opens the breaker ends the
 * step with "unavailable until T" and is charged nothing, as is a step refused by an open
 * breaker; the last of the workflow's capped attempts ends the step for good; a refusal by
 * the egress guard (the model named a forbidden address) and a failure of our own storage
 * count nothing. An MCP tools/call that timed out is not retried; a server that cannot be
 * reached is.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities/index.ts';
import type { RunPaidStepInput, RunStepInput } from '../../src/activities/index.ts';
import { ToolBreaker } from '../../src/infra/breaker.ts';
import { EventLog } from '../../src/infra/event-log.ts';
import { freeLoopbackPort } from '../../src/infra/free-port.ts';
import { createLogger } from '../../src/infra/logger.ts';
import { newRunId } from '../../src/runs/ids.ts';
import { createExecutor } from '../../src/sandbox/index.ts';
import type { PlanStep } from '../../src/shared/run.ts';
import { WorkspaceStore } from '../../src/workspace/store.ts';
import { connectClients, newUser, testConfig } from '../helpers/stack.ts';
import type { Clients } from '../helpers/stack.ts';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const S = 1000;
const T0 = Date.UTC(2026, 0, 1);

describe('ToolBreaker against Redis, with its clock injected', () => {
  let c: Clients;
  before(async () => { c = await connectClients(); });
  after(async () => c?.close());

  it('opens at the threshold, doubles its cooldown on each reopen up to the cap, ignores failures while open, and closes on a success', async () => {
    const b = new ToolBreaker(c.redis, { failures: 3, cooldownS: 10, maxCooldownS: 35 });
    const user = `breaker-${newRunId()}`;
    const fail = (at: number) => b.record(user, 'web_search', false, at);
    assert.deepEqual(await fail(T0), { open: false, until: 0, failures: 1 });
    assert.deepEqual(await fail(T0 + S), { open: false, until: 0, failures: 2 });
    assert.deepEqual(await fail(T0 + 2 * S), { open: true, until: T0 + 12 * S, failures: 3 }, 'the third failure opens it for the cooldown');
    // Steps that were running when it opened fail meanwhile: counted, the cooldown stays.
    assert.deepEqual(await fail(T0 + 3 * S), { open: true, until: T0 + 12 * S, failures: 4 });
    assert.deepEqual(await fail(T0 + 11 * S), { open: true, until: T0 + 12 * S, failures: 5 });
    assert.deepEqual(await b.state(user, 'web_search', T0 + 12 * S), { open: false, until: T0 + 12 * S, failures: 5 }, 'closed again once the cooldown ended');
    // The first failure after the cooldown reopens it at once, for twice as long.
    assert.deepEqual(await fail(T0 + 20 * S), { open: true, until: T0 + 40 * S, failures: 6 });
    assert.deepEqual(await fail(T0 + 30 * S), { open: true, until: T0 + 40 * S, failures: 7 }, 'not doubled while open');
    assert.deepEqual(await fail(T0 + 40 * S), { open: true, until: T0 + 75 * S, failures: 8 }, 'capped at 35 s, not 40');
    assert.deepEqual(await fail(T0 + 100 * S), { open: true, until: T0 + 135 * S, failures: 9 }, 'and stays at the cap');
    assert.deepEqual(await fail(T0 + 135 * S), { open: true, until: T0 + 170 * S, failures: 10 }, 'the moment it ends counts as after');
    assert.equal(await b.record(user, 'web_search', true, T0 + 170 * S), undefined, 'a success closes it');
    assert.equal(await b.state(user, 'web_search', T0 + 170 * S), undefined, 'and forgets it');
    assert.deepEqual(await fail(T0 + 171 * S), { open: false, until: 0, failures: 1 }, 'counting starts over, cooldown too');
    assert.deepEqual((await b.list(user, T0 + 171 * S)).map(({ tool, failures, open }) => ({ tool, failures, open })), [{ tool: 'web_search', failures: 1, open: false }]);
    await b.reset(user, 'web_search');
  });

  it('counts concurrent failures once each, and opens once for them', async () => {
    const b = new ToolBreaker(c.redis, { failures: 5, cooldownS: 10, maxCooldownS: 600 });
    const user = `breaker-${newRunId()}`;
    const after20 = await Promise.all(Array.from({ length: 20 }, () => b.record(user, 'fetch_url', false, T0)));
    assert.equal(Math.max(...after20.map((s) => s!.failures)), 20);
    assert.deepEqual(await b.state(user, 'fetch_url', T0), { open: true, until: T0 + 10 * S, failures: 20 }, 'opened for the first cooldown, not 2^15 of them');
    await b.reset(user, 'fetch_url');
  });
});

describe('steps of tools that call outside services, and their breaker', () => {
  let c: Clients;
  let site: Server;
  let hits = 0;
  let mcpHttp: ChildProcess | undefined;
  let acts: ReturnType<typeof createActivities>;
  let badStorage: ReturnType<typeof createActivities>;
  let breaker: ToolBreaker;
  let siteUrl: string;
  let mcpUrl: string;
  let closedUrl: string;

  before(async () => {
    c = await connectClients();
    site = createServer((req, res) => {
      hits += 1;
      if (req.url === '/ok') res.writeHead(200, { 'content-type': 'text/plain' }).end('fine');
      else res.writeHead(503, { 'content-type': 'text/plain' }).end('down for maintenance');
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    const mcpPort = await freeLoopbackPort();
    mcpUrl = `http://127.0.0.1:${mcpPort}/mcp`;
    closedUrl = `http://127.0.0.1:${await freeLoopbackPort()}/mcp`;
    const modules = fileURLToPath(new URL('../../node_modules', import.meta.url));
    mcpHttp = spawn(process.execPath, [join(modules, '@modelcontextprotocol/server-everything/dist/index.js'), 'streamableHttp'], { env: { PATH: process.env.PATH, PORT: String(mcpPort) }, stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let stderr = '';
      const deadline = setTimeout(() => reject(new Error(`server-everything did not listen: ${stderr}`)), 20_000);
      mcpHttp!.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes(`listening on port ${mcpPort}`)) { clearTimeout(deadline); resolve(); }
      });
    });
    const config = testConfig({
      FETCH_ALLOW_HOSTS: new URL(siteUrl).host, MCP_TIMEOUT: '1',
      MCP_SERVERS: JSON.stringify({ web: { url: mcpUrl }, gone: { url: closedUrl } }),
    });
    const log = createLogger('silent', 'test');
    breaker = new ToolBreaker(c.redis, { failures: 3, cooldownS: 600, maxCooldownS: 3600 });
    const make = (bucket: string) => {
      const workspace = new WorkspaceStore({ s3: c.s3, bucket, fileMaxBytes: config.workspace.fileMaxBytes });
      return createExecutor(config, workspace, log).then((sandbox) => createActivities({
        workspace, store: c.store, tools: config.tools, log, sandbox, breaker, events: new EventLog(c.redis, { maxLen: 1000, ttlS: 600 }),
      }));
    };
    acts = await make(config.s3.bucket);
    // Our own storage failing: a bucket that does not exist in the real MinIO.
    badStorage = await make(`agentrun-missing-${newRunId().toLowerCase().replace(/[^a-z0-9]/g, '')}`.slice(0, 60));
  });
  after(async () => {
    mcpHttp?.kill();
    await new Promise((resolve) => site?.close(resolve));
    await c?.close();
  });

  /** Attempt `n` (of the workflow's 5) of `fn`. */
  const attempt = <I, O>(n: number, fn: (i: I) => Promise<O>, input: I): Promise<O> =>
    new MockActivityEnvironment({ attempt: n, retryPolicy: { maximumAttempts: 5 } }).run(fn, input);
  async function stepOf(user: string, step: PlanStep): Promise<RunStepInput> {
    const runId = newRunId();
    await c.store.createRun({ id: runId, userId: user, prompt: 'a step' });
    return { runId, userId: user, index: 0, step };
  }
  const failure = (type: string, nonRetryable: boolean, message: RegExp) => (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.deepEqual([err.type, err.nonRetryable], [type, nonRetryable], err.message);
    assert.match(err.message, message);
    return true;
  };
  const ledger = async (runId: string) => (await c.store.query<{ kind: string; amount: string }>(
    'SELECT kind, amount FROM credit_ledger WHERE run_id = $1 ORDER BY id', [runId])).rows.map((r) => `${r.kind} ${Number(r.amount)}`);
  async function paid(user: string, step: PlanStep): Promise<RunPaidStepInput> {
    const runId = newRunId();
    await c.store.createRun({ id: runId, userId: user, prompt: 'a step' });
    assert.equal((await c.store.reserve(user, runId, 20, `reserve:${runId}`)).ok, true);
    return { runId, userId: user, index: 0, step, pay: { amount: 5, holdKey: `hold:${runId}:0`, chargeKey: `charge:${runId}:0`, what: `step 0 (${step.tool})` } };
  }

  it('each attempt the site fails counts; the one that opens the breaker ends the step, unavailable until T, and charges nothing', async () => {
    const user = await newUser(c, 100, 'outside');
    const input = await paid(user, { tool: 'fetch_url', url: `${siteUrl}/down` });
    const before = hits;
    for (const n of [1, 2]) {
      await assert.rejects(attempt(n, (i: RunPaidStepInput) => acts.runPaidStep(i), input), failure('FetchUnavailable', false, /answered 503$/));
      assert.equal((await breaker.state(user, 'fetch_url'))!.failures, n);
    }
    const third = await attempt(3, (i: RunPaidStepInput) => acts.runPaidStep(i), input);
    assert.ok(third.paid);
    assert.equal(third.result.ok, false);
    assert.match(third.result.summary, /^fetch_url is unavailable to you until \d{4}-[\d:.T-]+Z: it failed 3 time\(s\) in a row \(its breaker is open\); the last time: GET http:\/\/127\.0\.0\.1:\d+\/down answered 503$/);
    assert.equal(hits - before, 3, 'the site was asked three times');
    assert.deepEqual(await ledger(input.runId), ['reserve 20'], 'nothing charged');
    const row = await c.store.query<{ status: string }>('SELECT status FROM agent_steps WHERE run_id = $1', [input.runId]);
    assert.deepEqual(row.rows.map((r) => r.status), ['failed']);

    // The next step of the tool is refused without reaching the site, and costs nothing either.
    const refusedInput = await paid(user, { tool: 'fetch_url', url: `${siteUrl}/ok` });
    const refused = await attempt(1, (i: RunPaidStepInput) => acts.runPaidStep(i), refusedInput);
    assert.ok(refused.paid && !refused.result.ok && /unavailable to you until/.test(refused.result.summary));
    assert.equal(hits - before, 3, 'nothing ran');
    assert.deepEqual(await ledger(refusedInput.runId), ['reserve 20']);
    await breaker.reset(user, 'fetch_url');
    // A step that ran is charged as before.
    const fine = await attempt(1, (i: RunPaidStepInput) => acts.runPaidStep(i), await paid(user, { tool: 'fetch_url', url: `${siteUrl}/ok` }));
    assert.ok(fine.paid && fine.result.ok && fine.charge.ok && fine.charge.charged === 1);
  });

  it('the last of the workflow\'s attempts ends the step for good when the breaker stays closed', async () => {
    const user = await newUser(c, 100, 'outside');
    const input = await stepOf(user, { tool: 'fetch_url', url: `${siteUrl}/down` });
    // A success in between (another step) closed the breaker: attempt 5 of 5 counts one failure, and is the last.
    await assert.rejects(attempt(4, (i: RunStepInput) => acts.runStep(i), input), failure('FetchUnavailable', false, /answered 503$/));
    await breaker.record(user, 'fetch_url', true);
    await assert.rejects(attempt(5, (i: RunStepInput) => acts.runStep(i), input), failure('FetchUnavailable', true, /answered 503 \(attempt 5 of 5: not tried again\)$/));
    assert.equal((await breaker.state(user, 'fetch_url'))!.failures, 1);
    await breaker.reset(user, 'fetch_url');
  });

  it('a refusal by the egress guard is the model\'s input, not an outage: it fails the step and counts nothing', async () => {
    const user = await newUser(c, 100, 'outside');
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://127.0.0.1:6379/', 'http://[::ffff:10.0.0.1]/', 'file:///etc/passwd']) {
      for (const tool of ['fetch_url', 'browser'] as const) {
        // browser's is refused before any browser starts.
        await assert.rejects(attempt(1, (i: RunStepInput) => acts.runStep(i), await stepOf(user, { tool, url })), failure('FetchRefused', true, /refused: /));
      }
    }
    assert.deepEqual([await breaker.state(user, 'fetch_url'), await breaker.state(user, 'browser')], [undefined, undefined], 'eight refusals, no failures on record');
  });

  it('a failure of our own storage is retried and counts nothing', async () => {
    const user = await newUser(c, 100, 'outside');
    await assert.rejects(attempt(1, (i: RunStepInput) => badStorage.runStep(i), await stepOf(user, { tool: 'fetch_url', url: `${siteUrl}/ok`, path: 'page.txt' })), (err: unknown) => {
      assert.ok(!(err instanceof ApplicationFailure && err.nonRetryable), String(err));
      return true;
    });
    assert.equal(await breaker.state(user, 'fetch_url'), undefined);
  });

  it('an MCP tools/call that timed out is not made again (it may have run); a server that cannot be reached is retried; both count', async () => {
    const user = await newUser(c, 100, 'outside');
    const slow = { tool: 'mcp', server: 'web', name: 'trigger-long-running-operation', arguments: { duration: 5, steps: 5 } } as PlanStep;
    await assert.rejects(attempt(1, (i: RunStepInput) => acts.runStep(i), await stepOf(user, slow)),
      failure('McpUnavailable', true, /tools\/call trigger-long-running-operation timed out after 1000 ms; the call may have run on the server, so it is not made again$/));
    assert.equal((await breaker.state(user, 'mcp:web.trigger-long-running-operation'))!.failures, 1);
    const unreachable = { tool: 'mcp', server: 'gone', name: 'echo', arguments: { message: 'hi' } } as PlanStep;
    await assert.rejects(attempt(1, (i: RunStepInput) => acts.runStep(i), await stepOf(user, unreachable)), failure('McpUnavailable', false, /MCP server gone: /));
    assert.equal((await breaker.state(user, 'mcp:gone.echo'))!.failures, 1);
    const echoed = await attempt(1, (i: RunStepInput) => acts.runStep(i), await stepOf(user, { tool: 'mcp', server: 'web', name: 'echo', arguments: { message: 'hi' } }));
    assert.equal(echoed.ok, true, echoed.summary);
    await Promise.all([breaker.reset(user, 'mcp:web.trigger-long-running-operation'), breaker.reset(user, 'mcp:gone.echo')]);
  });
});
