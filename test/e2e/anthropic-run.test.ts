/**
 * A whole run planned and supervised by the Anthropic provider — the real SDK
 * in the real worker, talking to a local server that speaks the Messages API:
 * a rate-limited first call retried after retry-after, a three-step plan, a
 * failing step the supervisor retries with a fix, and exact usage charges.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { s3Keys } from '../../src/shared/names.ts';
import { apiError, FakeAnthropic, toolUse } from '../helpers/fake-anthropic.ts';
import { collect, createRun, parse } from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

describe('a run with the Anthropic provider (scripted conversation)', () => {
  const fake = new FakeAnthropic();
  let c: Clients;
  let user: string;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;

  before(async () => {
    await fake.start();
    c = await connectClients();
    user = await newUser(c, 1000, 'claude');
    const env = {
      ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('anthropic'), DEFAULT_USER_ID: user,
      LLM_PROVIDER: 'anthropic', ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_MODEL: 'claude-sonnet-4-5',
    };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c.close();
    await fake.stop();
  });

  it('plans three steps, retries the failing one with the supervisor\'s fix, finishes, and charges exactly the usage', async () => {
    const usage = (input: number, output: number) => ({ input_tokens: input, output_tokens: output });
    fake.push(
      apiError(429, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit', { 'retry-after': '1' }),
      toolUse('submit_plan', {
        summary: 'write, check, read back',
        steps: [
          { tool: 'write_file', path: 'notes.txt', content: 'hello' },
          { tool: 'shell', argv: ['sh', '-c', 'echo broken >&2; exit 3'] },
          { tool: 'read_file', path: 'notes.txt' },
        ],
      }, usage(1500, 300)),
      toolUse('decide', { decision: { action: 'continue', reason: 'file written' } }, usage(600, 50)),
      toolUse('decide', { decision: { action: 'retry', reason: 'the check was broken', step: { tool: 'shell', argv: ['sh', '-c', 'echo fixed'] } } }, usage(600, 50)),
      toolUse('decide', { decision: { action: 'continue', reason: 'fixed' } }, usage(600, 50)),
      toolUse('decide', { decision: { action: 'finish', reason: 'all done', outcome: 'completed' } }, usage(600, 50)),
    );
    const id = await createRun(api!.url, 'Write a note, check it, read it back.');
    const events = await collect(api!.url, id, { timeoutMs: 90_000 });
    assert.equal(parse(events.at(-1)!).status, 'completed', JSON.stringify(events.at(-1)));
    assert.equal(fake.pending, 0, 'every scripted reply was used');

    // The rate-limited call was retried no sooner than retry-after said.
    assert.ok(fake.requests[1]!.at - fake.requests[0]!.at >= 1000, `retried after ${fake.requests[1]!.at - fake.requests[0]!.at} ms`);
    // The supervisor saw the failing step's output (from the step record, not from history).
    assert.match(JSON.stringify(fake.requests[3]!.body.messages), /broken/);
    // Steps: write, failing shell, fixed shell, read.
    const stdout = events.filter((e) => e.event === 'log' && parse(e).stream === 'stdout').map((e) => parse(e).text);
    assert.deepEqual(stdout, ['fixed']);
    const decisions = events.filter((e) => e.event === 'log' && parse(e).stream === 'supervisor').map((e) => parse(e).decision);
    assert.deepEqual(decisions, ['continue', 'retry', 'continue', 'finish']);

    // Usage: plan 1800 tokens → 2 credits, four decisions of 650 → 1 each; steps 1 + 2 + 2 + 1.
    const ledger = await c.store.query<{ kind: string; amount: string; tokens: string }>('SELECT kind, amount, tokens FROM credit_ledger WHERE run_id = $1 ORDER BY id', [id]);
    const charges = ledger.rows.filter((r) => r.kind === 'charge');
    assert.equal(charges.reduce((s, r) => s + Number(r.amount), 0), 12);
    assert.equal(charges.reduce((s, r) => s + Number(r.tokens), 0), 1800 + 4 * 650);
    assert.deepEqual(ledger.rows.filter((r) => r.kind !== 'charge').map((r) => [r.kind, Number(r.amount)]), [['reserve', 100], ['release', 88]]);
    assert.equal(Number((await c.store.getRun(id))!.credits_charged), 12);
    assert.deepEqual(await c.store.balance(user), { available: 988, reserved: 0 });

    // Transcripts live in the workspace, referenced from history.
    await c.s3.send(new HeadObjectCommand({ Bucket: c.config.s3.bucket, Key: `${s3Keys.runPrefix(user, id)}.agentrun/llm/0000-plan.json` }));
  });

  it('fails the run without retrying when the API rejects the request (401), with the reason', async () => {
    fake.push(apiError(401, 'authentication_error', 'invalid x-api-key'));
    const id = await createRun(api!.url, 'anything');
    const events = await collect(api!.url, id, { timeoutMs: 60_000 });
    const end = parse(events.at(-1)!);
    assert.equal(end.status, 'failed');
    assert.equal((end.error as { code: string }).code, 'LlmRequestRejected');
    assert.match((end.error as { message: string }).message, /401 authentication_error/);
    assert.equal(fake.pending, 0);
    const ledger = await c.store.query<{ kind: string }>('SELECT kind FROM credit_ledger WHERE run_id = $1 ORDER BY id', [id]);
    assert.deepEqual(ledger.rows.map((r) => r.kind), ['reserve', 'release']);
  });

  it('a model\'s plan holding what PostgreSQL refuses (a NUL, an unpaired surrogate) runs: the file gets the exact bytes, the database a display copy', async () => {
    const odd = 'x\u0000y \udc00';
    fake.push(
      toolUse('submit_plan', { summary: `odd ${odd}`, steps: [{ tool: 'write_file', path: 'odd.txt', content: odd }] }, { input_tokens: 100, output_tokens: 10 }),
      toolUse('decide', { decision: { action: 'finish', reason: `written ${odd}`, outcome: 'completed' } }, { input_tokens: 100, output_tokens: 10 }),
    );
    const id = await createRun(api!.url, 'Write an odd file.');
    const events = await collect(api!.url, id, { timeoutMs: 60_000 });
    assert.equal(parse(events.at(-1)!).status, 'completed', JSON.stringify(events.slice(-3)));
    const file = await c.s3.send(new GetObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.file(user, id, 'odd.txt') }));
    assert.deepEqual(Buffer.from(await file.Body!.transformToByteArray()), Buffer.from('x\u0000y \ufffd'), 'the exact text (UTF-8 holds an unpaired surrogate as U+FFFD)');
    const plan = (await c.store.getRun(id))!.plan as { summary: string; steps: { content: string }[] };
    assert.deepEqual([plan.summary, plan.steps[0]!.content], ['odd x\ufffdy \ufffd', 'x\ufffdy \ufffd']);
  });
});
