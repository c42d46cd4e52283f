/**
 * The worker process under stress: killed with SIGKILL mid-run, stopped with
 * SIGTERM mid-step, and its step activity retried by hand.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities/index.ts';
import { createExecutor } from '../../src/sandbox/index.ts';
import { EventLog } from '../../src/infra/event-log.ts';
import { createLogger } from '../../src/infra/logger.ts';
import { redisKeys, s3Keys } from '../../src/shared/names.ts';
import { newRunId } from '../../src/runs/ids.ts';
import { WorkspaceStore } from '../../src/workspace/store.ts';
import type { StepResult } from '../../src/shared/run.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';
import { collect, createRun, historyCalls, parse } from '../helpers/runs.ts';

async function streamHas(c: Clients, runId: string, predicate: (type: string, data: Record<string, unknown>) => boolean): Promise<boolean> {
  const rows = await c.redis.xrange(redisKeys.events(runId), '-', '+');
  return rows.some(([, f]) => predicate(f[1]!, JSON.parse(f[3]!) as Record<string, unknown>));
}

/**
 * A run's steps in its history, in order: each a runPaidStep activity (a sandboxed step: held, run and
 * settled in one call) or local activity (a file step, recorded as a marker), with the attempt that ended it.
 */
async function runStepHistory(c: Clients, runId: string): Promise<{ local: boolean; attempt: number | undefined }[]> {
  // `end` goes out from the run's last workflow task, before that task completes: the history is whole once the workflow closed.
  const handle = c.temporal.workflow.getHandle(runId);
  await handle.result().catch(() => undefined);
  return historyCalls(await handle.fetchHistory()).filter((s) => s.name === 'runPaidStep').map(({ local, attempt }) => ({ local, attempt }));
}

async function lastModified(c: Clients, key: string): Promise<Date> {
  const h = await c.s3.send(new HeadObjectCommand({ Bucket: c.config.s3.bucket, Key: key }));
  return h.LastModified!;
}

describe('worker resilience', () => {
  let env: Record<string, string>;
  let api: (Proc & { url: string }) | undefined;
  const workers: Proc[] = [];
  let c: Clients;
  let user: string;

  before(async () => {
    c = await connectClients();
    user = await newUser(c, 100_000, 'worker');
    env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('worker'), DEFAULT_USER_ID: user };
    api = await startApi(env);
  });
  after(async () => {
    await Promise.all([stop(api), ...workers.map((w) => stop(w, 'SIGKILL'))]);
    await c?.close();
  });

  it('keeps worker:heartbeat fresh with a TTL', async () => {
    const w = await startWorker({ ...env, WORKER_HEARTBEAT_TTL_S: '6' });
    workers.push(w);
    try {
      // One key for every worker on this Redis: other test files' workers write it too, so read value and
      // TTL at once (MULTI) and wait for this worker's beat.
      const ours = async () => {
        const [[, raw], [, ttl]] = (await c.redis.multi().get(redisKeys.workerHeartbeat).ttl(redisKeys.workerHeartbeat).exec()) as [[null, string], [null, number]];
        const beat = JSON.parse(raw) as { pid: number; taskQueue: string; at: string };
        return beat.pid === w.child.pid && { ...beat, ttl };
      };
      const beat = await waitUntil('this worker\'s heartbeat', ours, 6_000);
      assert.equal(beat.taskQueue, env.TEMPORAL_TASK_QUEUE);
      assert.ok(beat.ttl > 0 && beat.ttl <= 6, `ttl ${beat.ttl}`);
      // Fresh: written again by this worker (a later `at`, the TTL renewed) well before its first beat expires.
      const again = await waitUntil('a second heartbeat', async () => { const b = await ours(); return b && b.at !== beat.at && b; }, 6_000);
      assert.ok(Date.parse(again.at) > Date.parse(beat.at));
      assert.ok(again.ttl > 0 && again.ttl <= 6, `ttl ${again.ttl}`);
    } finally {
      await stop(w);
    }
  });

  it('when the worker is SIGKILLed mid-run, a new worker completes the run and finished steps do not run again', async () => {
    // Two builds, as in a rollout: the history names the build that completed each workflow task.
    const w1 = await startWorker({ ...env, WORKER_BUILD_ID: 'build-a' });
    workers.push(w1);
    const id = await createRun(api!.url, 'write_file a.txt first\nshell sh -c "echo start; sleep 3; echo finish"\nwrite_file b.txt second');
    await waitUntil('shell step started', () => streamHas(c, id, (t, d) => t === 'step' && d.index === 1 && d.phase === 'started'));
    await waitUntil('shell output', () => streamHas(c, id, (t, d) => t === 'log' && d.text === 'start'));
    const killedAt = new Date();
    w1.child.kill('SIGKILL');
    await w1.exited;

    const w2 = await startWorker({ ...env, WORKER_BUILD_ID: 'build-b' });
    workers.push(w2);
    const events = await collect(api!.url, id, { timeoutMs: 90_000 });
    assert.equal(events.at(-1)!.event, 'end');
    assert.equal(parse(events.at(-1)!).status, 'completed');

    // Step 0's effect and record predate the kill: it was not executed again.
    assert.ok(await lastModified(c, s3Keys.file(user, id, 'a.txt')) <= killedAt);
    const kept = await c.store.query<{ created_at: Date }>('SELECT created_at FROM agent_step_results WHERE run_id = $1 AND step_index = 0', [id]);
    assert.ok(kept.rows[0]!.created_at <= killedAt, 'its record was kept with its last row, before the kill');
    // One call per step (the file steps local activities, the shell step an activity); only the step in flight at the kill was retried.
    assert.deepEqual(await runStepHistory(c, id), [{ local: true, attempt: 1 }, { local: false, attempt: 2 }, { local: true, attempt: 1 }]);
    // Every step event appears once on the stream; the retried step's new attempt printed its own output.
    for (const index of [0, 1, 2]) {
      for (const phase of ['started', 'completed']) {
        assert.equal(events.filter((e) => e.event === 'step' && parse(e).index === index && parse(e).phase === phase).length, 1, `step ${index} ${phase}`);
      }
    }
    const texts = events.filter((e) => e.event === 'log' && parse(e).stream === 'stdout').map((e) => parse(e).text);
    assert.deepEqual(texts, ['start', 'start', 'finish']);
    // The retried step kept its one row and counts its attempts.
    const rows = await c.store.query<{ step_index: number; status: string; attempts: number }>(
      'SELECT step_index, status, attempts FROM agent_steps WHERE run_id = $1 ORDER BY step_index', [id]);
    assert.deepEqual(rows.rows, [
      { step_index: 0, status: 'completed', attempts: 1 }, { step_index: 1, status: 'completed', attempts: 2 }, { step_index: 2, status: 'completed', attempts: 1 },
    ]);
    const builds = (await c.temporal.workflow.getHandle(id).fetchHistory()).events!.flatMap((e) => {
      const done = e.workflowTaskCompletedEventAttributes;
      return done ? [`${done.deploymentVersion?.deploymentName ?? done.workerDeploymentName}/${done.deploymentVersion?.buildId ?? done.workerVersion?.buildId}`] : [];
    });
    const switchAt = builds.indexOf('agentrun/build-b');
    assert.ok(switchAt > 0, builds.join(' '));
    assert.deepEqual(builds, builds.map((_, i) => (i < switchAt ? 'agentrun/build-a' : 'agentrun/build-b')));
    await stop(w2);
  });

  it('drains an in-flight step on SIGTERM, then exits cleanly', async () => {
    const w1 = await startWorker(env);
    workers.push(w1);
    const id = await createRun(api!.url, 'shell sh -c "sleep 2; echo drained"\nwrite_file z.txt done');
    await waitUntil('shell step started', () => streamHas(c, id, (t, d) => t === 'step' && d.index === 0 && d.phase === 'started'));
    w1.child.kill('SIGTERM');
    const exit = await w1.exited;
    assert.equal(exit.code, 0, w1.output());
    assert.ok(await streamHas(c, id, (t, d) => t === 'step' && d.index === 0 && d.phase === 'completed' && d.ok === true), 'the step finished before the worker left');

    const w2 = await startWorker(env);
    workers.push(w2);
    const events = await collect(api!.url, id, { timeoutMs: 60_000 });
    assert.equal(parse(events.at(-1)!).status, 'completed');
    assert.deepEqual(await runStepHistory(c, id), [{ local: false, attempt: 1 }, { local: true, attempt: 1 }]);
    assert.equal(events.filter((e) => e.event === 'log' && parse(e).text === 'drained').length, 1);
    await stop(w2);
  });

  it('a retried step activity returns its recorded result instead of clobbering newer content', async () => {
    const cfg = c.config;
    const log = createLogger('silent', 'test');
    const workspace = new WorkspaceStore({ s3: c.s3, bucket: cfg.s3.bucket, fileMaxBytes: cfg.workspace.fileMaxBytes });
    const acts = createActivities({
      workspace, store: c.store, tools: cfg.tools, log,
      sandbox: await createExecutor(cfg, workspace, log),
      events: new EventLog(c.redis, { maxLen: 1000, ttlS: 600 }),
    });
    const runId = newRunId();
    await c.store.createRun({ id: runId, userId: user, prompt: 'write_file f.txt from the step' });
    const input = { runId, userId: user, index: 0, step: { tool: 'write_file' as const, path: 'f.txt', content: 'from the step' } };
    const env1 = new MockActivityEnvironment({ attempt: 1 });
    const first: StepResult = await env1.run((i: typeof input) => acts.runStep(i), input);
    assert.equal(first.ok, true);
    // A later step (or the user) writes newer content; then the first activity is retried.
    const key = s3Keys.file(user, runId, 'f.txt');
    await c.s3.send(new PutObjectCommand({ Bucket: cfg.s3.bucket, Key: key, Body: 'newer' }));
    const second: StepResult = await new MockActivityEnvironment({ attempt: 2 }).run((i: typeof input) => acts.runStep(i), input);
    assert.deepEqual(second, first);
    const body = await (await c.s3.send(new GetObjectCommand({ Bucket: cfg.s3.bucket, Key: key }))).Body!.transformToString();
    assert.equal(body, 'newer');
    const completed = (await c.redis.xrange(redisKeys.events(runId), '-', '+')).filter(([, f]) => f[3]!.includes('"completed"'));
    assert.equal(completed.length, 1);
  });

  it('a path that escapes the workspace fails the step non-retryably with the reason', async () => {
    const w = await startWorker(env);
    workers.push(w);
    const id = await createRun(api!.url, 'write_file ../../other-user/x.txt gotcha');
    const events = await collect(api!.url, id);
    const end = parse(events.at(-1)!);
    assert.equal(end.status, 'failed');
    assert.equal((end.error as { code: string }).code, 'InvalidPath');
    assert.match((end.error as { message: string }).message, /'\.\.' segments are not allowed/);
    assert.deepEqual(await runStepHistory(c, id), [{ local: true, attempt: 1 }], 'one attempt, as a local activity');
    await stop(w);
  });
});
