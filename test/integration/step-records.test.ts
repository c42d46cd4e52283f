/**
 * Where a step's result record is kept: with its last row in the database, in the same call
 * (no S3 request of its own); one too large for a row (a long workspace listing) as an S3
 * object, as every record was before. Either way a retried attempt finds it and returns it
 * without running the tool again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities/index.ts';
import type { RunStepInput } from '../../src/activities/index.ts';
import { EventLog } from '../../src/infra/event-log.ts';
import { createLogger } from '../../src/infra/logger.ts';
import { newRunId } from '../../src/runs/ids.ts';
import { createExecutor } from '../../src/sandbox/index.ts';
import { s3Keys } from '../../src/shared/names.ts';
import type { StepResult } from '../../src/shared/run.ts';
import { STEP_RECORD_ROW_MAX_BYTES } from '../../src/workspace/index.ts';
import type { StepRecord } from '../../src/workspace/index.ts';
import { WorkspaceStore } from '../../src/workspace/store.ts';
import { connectClients, newUser } from '../helpers/stack.ts';
import type { Clients } from '../helpers/stack.ts';

describe('step result records', () => {
  let c: Clients;
  let user: string;
  let acts: ReturnType<typeof createActivities>;
  before(async () => {
    c = await connectClients();
    user = await newUser(c, 0, 'records');
    const log = createLogger('silent', 'test');
    const workspace = new WorkspaceStore({ s3: c.s3, bucket: c.config.s3.bucket, fileMaxBytes: c.config.workspace.fileMaxBytes });
    acts = createActivities({
      workspace, store: c.store, tools: c.config.tools, log, sandbox: await createExecutor(c.config, workspace, log),
      events: new EventLog(c.redis, { maxLen: 1000, ttlS: 600 }),
    });
  });
  after(async () => c?.close());

  const attempt = (n: number, input: RunStepInput): Promise<StepResult> => new MockActivityEnvironment({ attempt: n }).run((i: RunStepInput) => acts.runStep(i), input);
  const objectExists = (key: string) => c.s3.send(new HeadObjectCommand({ Bucket: c.config.s3.bucket, Key: key })).then(() => true, () => false);
  const rowRecord = async (runId: string) => (await c.store.stepResult(runId, 0)) as StepRecord | undefined;

  it('a step\'s record is kept with its last row, not as an object; a retry returns it and runs nothing', async () => {
    const runId = newRunId();
    await c.store.createRun({ id: runId, userId: user, prompt: 'write_file a.txt one' });
    const input: RunStepInput = { runId, userId: user, index: 0, step: { tool: 'write_file', path: 'a.txt', content: 'one' } };
    const first = await attempt(1, input);
    assert.equal(first.ok, true);
    const record = await rowRecord(runId);
    assert.deepEqual(record?.changes?.files && Object.keys(record.changes.files), ['a.txt']);
    assert.equal(await objectExists(s3Keys.stepRecord(user, runId, 0)), false, 'no S3 request for the record');
    const kept = await c.s3.send(new HeadObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.file(user, runId, 'a.txt') }));
    assert.deepEqual(await attempt(2, input), first);
    const after = await c.s3.send(new HeadObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.file(user, runId, 'a.txt') }));
    assert.equal(after.VersionId, kept.VersionId, 'the retry wrote nothing');
  });

  it('a record too large for a row (a workspace of 4,000 files listed) is an S3 object; a retry finds it there', async () => {
    // A write in a workspace another run began lists the workspace after the step (src/activities/steps.ts).
    const owner = newRunId();
    const files = 4000;
    for (let i = 0; i < files; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, files - i) }, (_, j) =>
        c.s3.send(new PutObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.file(user, owner, `data/file-with-a-longish-name-${String(i + j).padStart(5, '0')}.csv`), Body: 'x' }))));
    }
    const runId = newRunId();
    await c.store.createRun({ id: runId, userId: user, prompt: 'write_file b.txt two' });
    const input: RunStepInput = { runId, userId: user, index: 0, workspaceId: owner, step: { tool: 'write_file', path: 'b.txt', content: 'two' } };
    const first = await attempt(1, input);
    assert.equal(first.ok, true);
    assert.equal(await rowRecord(runId), undefined, 'not in the row');
    const object = await c.s3.send(new HeadObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.stepRecord(user, runId, 0) }));
    assert.ok(object.ContentLength! > STEP_RECORD_ROW_MAX_BYTES, `${object.ContentLength} bytes`);
    const step = await c.store.query<{ status: string }>('SELECT status FROM agent_steps WHERE run_id = $1 AND step_index = 0', [runId]);
    assert.equal(step.rows[0]?.status, 'completed');
    assert.deepEqual(await attempt(2, input), first);
  });

  it('a step that prints what jsonb refuses (a NUL, as /proc/1/cmdline holds) ends, its record kept exactly', async () => {
    const runId = newRunId();
    await c.store.createRun({ id: runId, userId: user, prompt: 'shell printf' });
    const input: RunStepInput = { runId, userId: user, index: 0, step: { tool: 'shell', argv: ['sh', '-c', 'printf "a\\000b\\n"; cat /proc/1/cmdline'] } };
    const first = await attempt(1, input);
    assert.equal(first.ok, true, first.summary);
    const record = await rowRecord(runId);
    assert.ok(record?.outputTail?.includes('a\u0000b'), JSON.stringify(record?.outputTail));
    assert.deepEqual(await attempt(2, input), first);
  });
});
