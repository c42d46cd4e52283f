/**
 * runPaidStep against the real Postgres, Redis and MinIO: a step paid for in the
 * activity that runs it. Paid once: a retried attempt (after a crash) finds the
 * hold, the step's record and the charge already there and repeats none of them.
 * Refused: a hold the run's budget cannot take runs nothing — no file, no step
 * record, no charge — and says why, so the workflow can ask for more credits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities/index.ts';
import type { PaidStep, RunPaidStepInput } from '../../src/activities/index.ts';
import { EventLog } from '../../src/infra/event-log.ts';
import { createLogger } from '../../src/infra/logger.ts';
import { newRunId } from '../../src/runs/ids.ts';
import { createExecutor } from '../../src/sandbox/index.ts';
import { redisKeys, s3Keys } from '../../src/shared/names.ts';
import { readStepRecord } from '../../src/workspace/index.ts';
import { WorkspaceStore } from '../../src/workspace/store.ts';
import { connectClients, newUser } from '../helpers/stack.ts';
import type { Clients } from '../helpers/stack.ts';

describe('runPaidStep: a step that holds, runs and settles in one activity', () => {
  let c: Clients;
  let acts: ReturnType<typeof createActivities>;
  let workspace: WorkspaceStore;
  before(async () => {
    c = await connectClients();
    const log = createLogger('silent', 'test');
    workspace = new WorkspaceStore({ s3: c.s3, bucket: c.config.s3.bucket, fileMaxBytes: c.config.workspace.fileMaxBytes });
    acts = createActivities({
      workspace, store: c.store, tools: c.config.tools, log, sandbox: await createExecutor(c.config, workspace, log),
      events: new EventLog(c.redis, { maxLen: 1000, ttlS: 600 }),
    });
  });
  after(async () => c?.close());

  /** A run of `user` with `reserve` credits reserved, and a write_file step of it paying `amount` up front. */
  async function paidStep(user: string, reserve: number, amount: number): Promise<RunPaidStepInput> {
    const runId = newRunId();
    await c.store.createRun({ id: runId, userId: user, prompt: 'write_file f.txt paid' });
    assert.equal((await c.store.reserve(user, runId, reserve, `reserve:${runId}`)).ok, true);
    return {
      runId, userId: user, index: 0, step: { tool: 'write_file', path: 'f.txt', content: 'paid' },
      pay: { amount, holdKey: `hold:${runId}:0`, chargeKey: `charge:${runId}:0`, what: 'step 0 (write_file)' },
    };
  }
  const ledger = async (runId: string) => (await c.store.query<{ kind: string; amount: string }>(
    'SELECT kind, amount FROM credit_ledger WHERE run_id = $1 ORDER BY id', [runId])).rows.map((r) => `${r.kind} ${Number(r.amount)}`);
  const attempt = (n: number, input: RunPaidStepInput, isLocal = false): Promise<PaidStep> =>
    new MockActivityEnvironment({ attempt: n, isLocal }).run((i: RunPaidStepInput) => acts.runPaidStep(i), input);
  const fileBody = async (user: string, runId: string) =>
    (await c.s3.send(new GetObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.file(user, runId, 'f.txt') }))).Body!.transformToString();

  it('pays once: the hold, the step and the charge, and a retried attempt repeats none of them', async () => {
    const user = await newUser(c, 100, 'paid');
    const input = await paidStep(user, 50, 5);
    const first = await attempt(1, input);
    assert.ok(first.paid);
    assert.equal(first.result.ok, true);
    assert.equal(first.charge.ok && first.charge.charged, 1, 'a file step costs 1 credit; the rest of its hold returns');
    const retried = await attempt(2, input);
    assert.ok(retried.paid);
    assert.deepEqual(retried.result, first.result, 'the retry returns the recorded result');
    assert.equal(retried.charge.ok && retried.charge.run_charged, 1, 'and charges nothing more');
    assert.deepEqual(await ledger(input.runId), ['reserve 50', 'charge 1']);
    const events = (await c.redis.xrange(redisKeys.events(input.runId), '-', '+')).map(([, f]) => f[1]);
    assert.deepEqual(events.filter((t) => t === 'usage').length, 1, 'one usage event');
    const body = await (await c.s3.send(new GetObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.file(user, input.runId, 'f.txt') }))).Body!.transformToString();
    assert.equal(body, 'paid');
  });

  it('as a local activity run again from attempt 1 (its worker died before the workflow task recorded it), finds its hold and returns the recorded result without running the tool', async () => {
    const user = await newUser(c, 100, 'paid');
    const input = await paidStep(user, 50, 5);
    const first = await attempt(1, input, true);
    assert.ok(first.paid && first.result.ok);
    // Someone else changes the file after the step: a tool run again would write 'paid' over it.
    await c.s3.send(new PutObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.file(user, input.runId, 'f.txt'), Body: 'changed later' }));
    const again = await attempt(1, input, true);
    assert.ok(again.paid);
    assert.deepEqual(again.result, first.result, 'the recorded result, not a second run');
    assert.equal(await fileBody(user, input.runId), 'changed later', 'the tool did not run again');
    assert.deepEqual(await ledger(input.runId), ['reserve 50', 'charge 1']);
  });

  it('runs the tool on a later attempt whose hold is new (the attempt before failed before holding)', async () => {
    const user = await newUser(c, 100, 'paid');
    const input = await paidStep(user, 50, 5);
    const r = await attempt(3, input);
    assert.ok(r.paid && r.result.ok);
    assert.equal(await fileBody(user, input.runId), 'paid');
    assert.deepEqual(await ledger(input.runId), ['reserve 50', 'charge 1']);
  });

  it('runs nothing when the budget cannot hold it, and says why', async () => {
    const user = await newUser(c, 100, 'paid');
    const input = await paidStep(user, 3, 5);
    const r = await attempt(1, input);
    assert.equal(r.paid, false);
    assert.ok(!r.paid && !r.refusal.ok && r.refusal.reason === 'budget_exhausted', JSON.stringify(r));
    assert.deepEqual(await ledger(input.runId), ['reserve 3']);
    await assert.rejects(c.s3.send(new HeadObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.file(user, input.runId, 'f.txt') })), 'no file written');
    assert.equal(await readStepRecord({ db: c.store, objects: workspace }, user, input.runId, 0), undefined, 'no step record');
    const steps = await c.store.query('SELECT 1 FROM agent_steps WHERE run_id = $1', [input.runId]);
    assert.equal(steps.rowCount, 0, 'the step never started');
  });
});
