/**
 * The queue facade against real services: jobs:* agree with Temporal's own view
 * after a mixed batch; a seed-format LPUSH of a created run starts it; malformed,
 * incomplete and unknown entries are dead-lettered with a reason; a dead-lettered
 * run retried from the API completes; an entry a crashed consumer left in
 * jobs:processing is finished when the API starts again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { newRunId } from '../../src/runs/ids.ts';
import { QueueFacade } from '../../src/infra/queue.ts';
import { signIngress } from '../../src/shared/ingress-signature.ts';
import { queueKeys } from '../../src/shared/names.ts';
import { queueForStatus } from '../../src/shared/queue.ts';
import type { FailedEntry } from '../../src/shared/queue.ts';
import type { RunStatus } from '../../src/shared/run.ts';
import { searchAttributes } from '../../src/workflows/definitions.ts';
import { apiFetch, mintToken } from '../helpers/auth.ts';
import { connectClients, metricsUrl, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

type Api = Proc & { url: string; token?: string };

describe('queue facade and legacy ingress', () => {
  let c: Clients;
  let env: Record<string, string>;
  let worker: Proc | undefined;
  let api: Api | undefined;
  let queue: QueueFacade;
  let user: string;
  const prefix = `jobs-test-${randomBytes(4).toString('hex')}:`;
  const keys = queueKeys(prefix);

  before(async () => {
    c = await connectClients();
    user = await newUser(c, 10_000, 'queue');
    env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('queue'), DEFAULT_USER_ID: user, QUEUE_KEY_PREFIX: prefix, QUEUE_POLL_MS: '50', WORKER_METRICS_PORT: '0', AUTH_OPERATORS: `ops-admin,${user}` };
    queue = new QueueFacade(c.redis, prefix);
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c.redis.del(...Object.values(keys));
    await c.close();
  });

  const headers = (): Record<string, string> => ({ 'content-type': 'application/json', ...(api?.token ? { authorization: `Bearer ${api.token}` } : {}) });
  const startRun = async (body: Record<string, unknown>) => {
    const res = await fetch(`${api!.url}/v1/runs`, { method: 'POST', headers: headers(), body: JSON.stringify(body) });
    assert.equal(res.status, 202, await res.clone().text());
    return ((await res.json()) as { id: string }).id;
  };
  const agentStatus = async (id: string) => (await c.temporal.workflow.getHandle(id).describe()).typedSearchAttributes.get(searchAttributes.agentStatus);
  const failedEntries = async () => (await queue.listFailed()).map((f) => f.entry);
  /** A run record as a seed-era producer creates it (status created), for `userId`. */
  const createdRecord = async (prompt: string, userId = user) => {
    const id = newRunId();
    await c.store.createRun({ id, userId, prompt, priority: 0, status: 'created' });
    return id;
  };
  /** A seed-format entry, signed with the stack's INGRESS_SIGNING_SECRET. */
  const seedJob = (runId: string) => JSON.stringify({ run_id: runId, enqueued_at: new Date().toISOString(), priority: 0, retry_count: 0, sig: signIngress(env.INGRESS_SIGNING_SECRET!, runId) });

  it('answers only operators (AUTH_OPERATORS): 401 without a token, 403 JSON for another user', async () => {
    const none = await fetch(`${api!.url}/v1/queue`);
    assert.equal(none.status, 401);
    const other = await mintToken(await newUser(c, 0, 'notops'));
    for (const [method, path] of [['GET', '/v1/queue'], ['GET', '/v1/queue/failed'], ['POST', '/v1/queue/failed/run_x/retry']] as const) {
      const res = await fetch(`${api!.url}${path}`, { method, headers: { authorization: `Bearer ${other}` } });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'forbidden');
    }
    assert.equal((await apiFetch(`${api!.url}/v1/queue`)).status, 200);
  });

  it('after a mixed batch (completed, failed, cancelled, awaiting approval) the jobs:* lists agree with Temporal', async () => {
    const completed = await startRun({ prompt: 'write_file done.txt ok' });
    const failed = await startRun({ prompt: 'shell false' });
    const waiting = await startRun({ prompt: 'write_file wait.txt ok', requireApproval: true, priority: 1 });
    const cancelled = await startRun({ prompt: 'write_file cancel.txt ok', requireApproval: true });
    await waitUntil('two runs awaiting approval', async () => (await agentStatus(waiting)) === 'awaiting_approval' && (await agentStatus(cancelled)) === 'awaiting_approval', 60_000);
    await c.temporal.workflow.getHandle(cancelled).cancel();
    await c.temporal.workflow.getHandle(completed).result();
    await assert.rejects(c.temporal.workflow.getHandle(failed).result());
    await assert.rejects(c.temporal.workflow.getHandle(cancelled).result());

    // Temporal's view: every workflow of this task queue, its execution status and AgentStatus.
    const seen: { id: string; status: RunStatus }[] = [];
    await waitUntil('visibility lists the batch', async () => {
      seen.length = 0;
      for await (const w of c.temporal.workflow.list({ query: `TaskQueue="${env.TEMPORAL_TASK_QUEUE}"` })) {
        const closed = { COMPLETED: 'completed', FAILED: 'failed', CANCELLED: 'cancelled', TERMINATED: 'failed', TIMED_OUT: 'failed' } as Record<string, RunStatus>;
        const status = closed[w.status.name] ?? (w.typedSearchAttributes.get(searchAttributes.agentStatus) as RunStatus);
        seen.push({ id: w.workflowId, status });
      }
      return seen.length === 4 && seen.some((s) => s.id === cancelled && s.status === 'cancelled');
    });
    const expected: Record<string, number> = { pending: 0, high_priority: 0, processing: 0, retry: 0, failed: 0 };
    for (const { id, status } of seen) {
      const where = queueForStatus(status, 3);
      const actual = await queue.whereIs(id);
      assert.equal(actual?.queue ?? 'none', where, `${id} is ${status} in Temporal`);
      if (where !== 'none') expected[where]! += 1;
    }
    assert.deepEqual(seen.map((s) => s.status).sort(), ['awaiting_approval', 'cancelled', 'completed', 'failed']);

    const res = await apiFetch(`${api!.url}/v1/queue`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { queues: Record<string, { count: number; oldestAgeS: number | null }> };
    assert.deepEqual(Object.fromEntries(Object.entries(body.queues).map(([q, v]) => [q, v.count])), expected);
    assert.ok(body.queues.processing!.oldestAgeS! >= 0);
    assert.equal(body.queues.pending!.oldestAgeS, null);

    const dead = (await failedEntries()).find((e) => e.id === failed);
    assert.equal(dead?.source, 'run');
    assert.equal(dead?.reason.code, 'StepFailed');
    const view = (await (await apiFetch(`${api!.url}/v1/queue/failed`)).json()) as { entries: { id: string; reason: { code: string } }[] };
    assert.ok(view.entries.some((e) => e.id === failed && e.reason.code === 'StepFailed'));

    // Approving the waiting run moves it out of jobs:processing once it completes.
    await c.temporal.workflow.getHandle(waiting).signal('approve', { approved: true });
    await c.temporal.workflow.getHandle(waiting).result();
    assert.equal(await queue.whereIs(waiting), undefined);
  });

  it('a seed-format LPUSH of a created run starts it, and the entry leaves jobs:processing once Temporal accepted it', async () => {
    const id = await createdRecord('write_file legacy.txt from the seeds');
    const raw = seedJob(id);
    await c.redis.lpush(keys.pending, raw);
    await waitUntil('the legacy run started', async () => (await c.temporal.workflow.getHandle(id).describe().catch(() => undefined)) !== undefined, 30_000);
    await c.temporal.workflow.getHandle(id).result();
    assert.ok(!(await c.redis.lrange(keys.processing, 0, -1)).includes(raw));
    assert.ok(!(await c.redis.lrange(keys.pending, 0, -1)).includes(raw));
    assert.equal((await c.store.getRun(id))?.status, 'completed');
    assert.equal(await queue.whereIs(id), undefined);
    const metrics = await (await fetch(metricsUrl(api!))).text();
    assert.match(metrics, /agentrun_queue_ingress_total\{outcome="started"\} [1-9]/);
  });

  it('malformed JSON, a job without run_id and an unknown run go to jobs:failed with the reason; nothing is dropped', async () => {
    const unknown = newRunId();
    const entries = ['{"run_id": oops', JSON.stringify({ enqueued_at: new Date().toISOString(), priority: 0, retry_count: 0 }), seedJob(unknown)];
    await c.redis.lpush(keys.pending, ...entries);
    const byJob = await waitUntil('three dead letters', async () => {
      const f = await failedEntries();
      const mine = entries.map((e) => f.find((x) => x.job === e));
      return mine.every(Boolean) ? (mine as FailedEntry[]) : undefined;
    });
    assert.equal(byJob[0]!.reason.code, 'malformed_json');
    assert.equal(byJob[1]!.reason.code, 'invalid_job');
    assert.match(byJob[1]!.reason.message, /run_id: is required/);
    assert.equal(byJob[2]!.reason.code, 'unknown_run');
    assert.equal(byJob[2]!.run_id, unknown);
    for (const e of entries) {
      assert.ok(!(await c.redis.lrange(keys.processing, 0, -1)).includes(e));
      assert.ok(!(await c.redis.lrange(keys.pending, 0, -1)).includes(e));
    }
    const view = (await (await apiFetch(`${api!.url}/v1/queue/failed`)).json()) as { entries: { id: string; source: string; reason: { code: string } }[] };
    for (const e of byJob) assert.ok(view.entries.some((v) => v.id === e.id && v.source === 'ingress' && v.reason.code === e.reason.code));
  });

  it('a dead-lettered run retried from POST /v1/queue/failed/:id/retry runs again and completes; a second retry is refused', async () => {
    const poor = await newUser(c, 0, 'poor');
    const id = await createdRecord('write_file retried.txt ok', poor);
    await c.redis.lpush(keys.pending, seedJob(id));
    await assert.rejects(async () => {
      await waitUntil('started', async () => (await c.temporal.workflow.getHandle(id).describe().catch(() => undefined)) !== undefined);
      await c.temporal.workflow.getHandle(id).result();
    });
    const dead = await waitUntil('dead-lettered', async () => (await failedEntries()).find((e) => e.id === id));
    assert.equal(dead.reason.code, 'insufficient_credits');

    await c.store.grant(poor, 500, `test-grant-again:${poor}`);
    const res = await apiFetch(`${api!.url}/v1/queue/failed/${id}/retry`, { method: 'POST' });
    assert.equal(res.status, 202, await res.clone().text());
    const out = (await res.json()) as { runId: string; retryOf: string; status: string };
    assert.equal(out.retryOf, id);
    assert.equal(out.status, 'requeued');
    assert.notEqual(out.runId, id);
    assert.ok(!(await failedEntries()).some((e) => e.id === id));
    await waitUntil('the retry started', async () => (await c.temporal.workflow.getHandle(out.runId).describe().catch(() => undefined)) !== undefined, 30_000);
    const result = (await c.temporal.workflow.getHandle(out.runId).result()) as { status: string };
    assert.equal(result.status, 'completed');
    const record = await c.store.getRun(out.runId);
    assert.equal(record?.user_id, poor);
    assert.equal(record?.status, 'completed');
    assert.equal(await queue.whereIs(out.runId), undefined);
    assert.equal((await c.redis.lrange(keys.retry, 0, -1)).length, 0);

    const again = await apiFetch(`${api!.url}/v1/queue/failed/${id}/retry`, { method: 'POST' });
    assert.equal(again.status, 404);
  });

  it('an entry a crashed consumer left in jobs:processing is finished when the API starts again', async () => {
    await stop(api);
    const id = await createdRecord('write_file recovered.txt ok');
    const raw = seedJob(id);
    await c.redis.lpush(keys.processing, raw); // taken by a consumer that died before starting it
    api = await startApi(env);
    assert.match(api.output(), /legacy queue consumer started/);
    assert.match(api.output(), /"recovered":[1-9]/);
    await waitUntil('the recovered run started', async () => (await c.temporal.workflow.getHandle(id).describe().catch(() => undefined)) !== undefined, 30_000);
    await c.temporal.workflow.getHandle(id).result();
    assert.ok(!(await c.redis.lrange(keys.processing, 0, -1)).includes(raw));
    assert.equal((await c.store.getRun(id))?.status, 'completed');
  });

  it('a legacy entry of a user at the active-run limit waits in jobs:retry (not an attempt, never dead-lettered) and starts when a place frees', async () => {
    await stop(api);
    // Tried again every second (API_RUN_LIMIT_RETRY_AFTER_S), so three tries take seconds, not half a minute.
    api = await startApi({ ...env, API_MAX_ACTIVE_RUNS: '1', API_RUN_LIMIT_RETRY_AFTER_S: '1' });
    const busy = await newUser(c, 10_000, 'busy');
    const token = await mintToken(busy);
    const first = await fetch(`${api.url}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ prompt: 'write_file first.txt ok', requireApproval: true }) });
    assert.equal(first.status, 202);
    const firstId = ((await first.json()) as { id: string }).id;
    await waitUntil('first run awaiting approval', async () => (await agentStatus(firstId)) === 'awaiting_approval', 60_000);

    const id = await createdRecord('write_file second.txt ok', busy);
    await c.redis.lpush(keys.pending, seedJob(id));
    const parked = await waitUntil('entry parked in jobs:retry', async () => (await queue.listRetry()).find((r) => r.entry.job.includes(id))?.entry);
    assert.equal(parked.reason?.code, 'too_many_active_runs');
    assert.equal(parked.retry_count, 0, 'waiting for a place is not an attempt');
    // It is tried again and again while the user stays at the limit (each try parks it with a
    // new retry_at), and never dead-lettered.
    const tries = new Set<string>([parked.retry_at]);
    const counts = new Set<number>();
    let deadLettered = false;
    await waitUntil('the entry tried twice more', async () => {
      deadLettered ||= (await failedEntries()).some((e) => e.id === id);
      const again = (await queue.listRetry()).find((r) => r.entry.job.includes(id))?.entry;
      if (again) { tries.add(again.retry_at); counts.add(again.retry_count); }
      return deadLettered || tries.size >= 3;
    }, 60_000);
    assert.equal(deadLettered, false, 'dead-lettered while waiting for a place');
    assert.deepEqual([...counts], [0], 'waiting for a place is not an attempt');
    assert.ok(!(await failedEntries()).some((e) => e.id === id));
    assert.equal(await c.temporal.workflow.getHandle(id).describe().catch(() => undefined), undefined);

    await c.temporal.workflow.getHandle(firstId).signal('approve', { approved: true });
    await c.temporal.workflow.getHandle(firstId).result();
    await waitUntil('the waiting entry started', async () => (await c.temporal.workflow.getHandle(id).describe().catch(() => undefined)) !== undefined, 30_000);
    assert.equal(((await c.temporal.workflow.getHandle(id).result()) as { status: string }).status, 'completed');
    assert.equal((await c.redis.lrange(keys.retry, 0, -1)).filter((m) => m.includes(id)).length, 0);
    assert.ok(!(await failedEntries()).some((e) => e.id === id));
  });
});
