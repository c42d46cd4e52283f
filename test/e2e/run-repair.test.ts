/**
 * Starts that go wrong half-way, created for real in Postgres, Redis and Temporal:
 * a record left `queued` by an API that stopped between admission and start is repaired
 * (failed with a reason, no longer counted against API_MAX_ACTIVE_RUNS); an Idempotency-Key
 * whose first start reached Temporal (or whose process died) never yields a second run.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fingerprint } from '../../src/api/idempotency.ts';
import { newRunId } from '../../src/runs/ids.ts';
import { repairQueuedRuns, START_INTERRUPTED } from '../../src/runs/repair.ts';
import { createLogger } from '../../src/infra/logger.ts';
import { QueueFacade } from '../../src/infra/queue.ts';
import { sha256Hex } from '../../src/shared/hash.ts';
import { redisKeys, WORKFLOW_TYPE } from '../../src/shared/names.ts';
import { searchAttributes } from '../../src/workflows/definitions.ts';
import { mintToken } from '../helpers/auth.ts';
import { connectClients, newUser, stackEnv, startApi, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

describe('repair of half-done starts', () => {
  let c: Clients;
  let api: (Proc & { url: string; token: string }) | undefined;
  let taskQueue: string;
  const prefix = `jobs-test-repair-${randomBytes(3).toString('hex')}:`; // inside the stack ACL user's jobs* keys
  const started: string[] = [];
  let stuck: { user: string; id: string };
  let waiting: { user: string; id: string };

  /** What a start that reached Temporal leaves: the workflow (no worker polls this queue, so it just waits). */
  const startWorkflow = async (id: string, userId: string) => {
    await c.temporal.workflow.start(WORKFLOW_TYPE, {
      workflowId: id, taskQueue, args: [{ runId: id, userId }],
      typedSearchAttributes: [{ key: searchAttributes.userId, value: userId }, { key: searchAttributes.agentStatus, value: 'queued' }],
    });
    started.push(id);
  };
  /** A record as run_admit leaves it, admitted `minutesAgo` (past this API's grace of 60 s, within the 300 s default of other test APIs). */
  const admitted = async (userId: string, prompt: string, minutesAgo: number) => {
    const id = newRunId();
    await c.store.query(`INSERT INTO agent_runs (id, user_id, prompt, priority, status, created_at, updated_at)
      VALUES ($1, $2, $3, 3, 'queued', now() - make_interval(mins => $4), now() - make_interval(mins => $4))`, [id, userId, prompt, minutesAgo]);
    return id;
  };
  const status = async (id: string) => (await c.store.getRun(id))?.status;

  before(async () => {
    c = await connectClients();
    taskQueue = uniqueQueue('repair');
    stuck = { user: await newUser(c, 1000, 'repair-a'), id: '' };
    stuck.id = await admitted(stuck.user, 'write_file a.txt never started', 2);
    await new QueueFacade(c.redis, prefix).track(stuck.id, 'queued', { priority: 3 }); // as the API lists a run before starting it
    waiting = { user: await newUser(c, 1000, 'repair-b'), id: '' };
    waiting.id = await admitted(waiting.user, 'write_file b.txt started, no worker yet', 3);
    await startWorkflow(waiting.id, waiting.user);
    // Before any repair the stuck record holds the user's only place.
    const refused = await c.store.admitRun({ id: newRunId(), userId: stuck.user, prompt: 'x', priority: 3 }, 1);
    assert.equal(refused.ok, false);
    api = await startApi({
      ...stackEnv(), TEMPORAL_TASK_QUEUE: taskQueue, QUEUE_KEY_PREFIX: prefix, QUEUE_CONSUMER: 'false',
      API_MAX_ACTIVE_RUNS: '1', API_REPAIR_INTERVAL_S: '1', API_REPAIR_GRACE_S: '60',
    });
  });
  after(async () => {
    await stop(api);
    await Promise.all(started.map((id) => c.temporal.workflow.getHandle(id).terminate('test over').catch(() => undefined)));
    const keys = await c.redis.keys(`${prefix}*`);
    if (keys.length > 0) await c.redis.del(...keys);
    await c?.close();
  });

  const post = async (user: string, body: unknown, key?: string) => {
    const res = await fetch(`${api!.url}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await mintToken(user)}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { id?: string; status?: string; error?: { code: string } }, replayed: res.headers.get('idempotent-replayed') };
  };

  it('a record left queued without a workflow is failed with a reason and stops counting against API_MAX_ACTIVE_RUNS', async () => {
    await waitUntil('the stuck record repaired', async () => (await status(stuck.id)) === 'failed', 30_000);
    const record = await c.store.getRun(stuck.id);
    assert.deepEqual(record!.error, START_INTERRUPTED);
    assert.ok(record!.finished_at);
    // Listed on jobs:pending when it was admitted, it is now on the dead-letter list, where an operator can retry it.
    // The record is failed first, then its entry moves: wait for the move.
    await waitUntil('the stuck run dead-lettered', async () => (await c.redis.lrange(`${prefix}failed`, 0, -1)).some((e) => e.includes(stuck.id)), 10_000);
    assert.deepEqual(await c.redis.lrange(`${prefix}pending`, 0, -1), []);
    // The user's place is free again.
    const res = await post(stuck.user, { prompt: 'write_file c.txt after repair' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    started.push(res.body.id!);
  });

  it('a queued record whose workflow exists is left alone; once that workflow ends early, the record follows it', async () => {
    // The older record is looked at first in every pass, so by now it has been seen at least once.
    await waitUntil('the stuck record repaired', async () => (await status(stuck.id)) === 'failed', 30_000);
    assert.equal(await status(waiting.id), 'queued');
    await c.temporal.workflow.getHandle(waiting.id).terminate('operator ended it before any worker took it');
    await waitUntil('the record follows its terminated workflow', async () => (await status(waiting.id)) === 'failed', 30_000);
    assert.equal(((await c.store.getRun(waiting.id))!.error as { code: string }).code, 'workflow_closed');
  });

  it('pages through the stale records: a flood of rightly queued runs does not hide a newer interrupted start', async () => {
    const user = await newUser(c, 1000, 'repair-flood');
    // Five older records whose workflows exist (queued behind busy workers: left alone), then one left without a workflow.
    for (let i = 0; i < 5; i += 1) {
      const id = await admitted(user, `write_file f${i}.txt queued behind the flood`, 10);
      await startWorkflow(id, user);
    }
    const interrupted = await admitted(user, 'write_file g.txt never started', 5);
    // Pages of two: the first pages hold only older queued records (these five, and any the stack holds), never the interrupted one.
    const out = await repairQueuedRuns({ store: c.store, temporal: c.temporal, log: createLogger('silent', 'test') }, 60, 2, 1000);
    assert.ok(out.failed.includes(interrupted) || (await status(interrupted)) === 'failed', JSON.stringify(out));
    assert.equal(await status(interrupted), 'failed');
  });

  it('Idempotency-Key after an ambiguous start (Temporal took it, the API saw an error): the same run, never a second', async () => {
    const user = await newUser(c, 1000, 'repair-idem');
    const key = `ambiguous-${randomBytes(4).toString('hex')}`;
    const body = { prompt: 'write_file d.txt once' };
    // The first attempt's traces: its claim (kept for a retry), its record, its workflow.
    const id = newRunId();
    await c.store.admitRun({ id, userId: user, prompt: body.prompt, priority: 3 }, 10);
    await startWorkflow(id, user);
    const claim = { state: 'retry', fingerprint: fingerprint(body), runId: id, at: Date.now() - 5000 };
    await c.redis.set(redisKeys.idempotency(user, sha256Hex(key)), JSON.stringify(claim), 'EX', 600);

    const again = await post(user, body, key);
    assert.equal(again.status, 202, JSON.stringify(again.body));
    assert.equal(again.body.id, id);
    const replay = await post(user, body, key);
    assert.equal(replay.body.id, id);
    assert.equal(replay.replayed, 'true');
    const rows = await c.store.query<{ id: string }>('SELECT id FROM agent_runs WHERE user_id = $1', [user]);
    assert.deepEqual(rows.rows.map((r) => r.id), [id]);
    const runs = [];
    for await (const w of c.temporal.workflow.list({ query: `UserId = "${user}"` })) runs.push(w.workflowId);
    assert.deepEqual(runs, [id]);
  });

  it('Idempotency-Key whose process died after admission: the retry starts that run, with that id', async () => {
    const user = await newUser(c, 1000, 'repair-crash');
    const key = `crashed-${randomBytes(4).toString('hex')}`;
    const body = { prompt: 'write_file e.txt once' };
    const id = newRunId();
    await c.store.admitRun({ id, userId: user, prompt: body.prompt, priority: 3 }, 10);
    // A pending claim two minutes old: its process is gone.
    const claim = { state: 'pending', fingerprint: fingerprint(body), runId: id, at: Date.now() - 120_000 };
    await c.redis.set(redisKeys.idempotency(user, sha256Hex(key)), JSON.stringify(claim), 'EX', 600);

    const again = await post(user, body, key);
    assert.equal(again.status, 202, JSON.stringify(again.body));
    assert.equal(again.body.id, id);
    started.push(id);
    const d = await c.temporal.workflow.getHandle(id).describe();
    assert.equal(d.status.name, 'RUNNING');
    const rows = await c.store.query<{ id: string }>('SELECT id FROM agent_runs WHERE user_id = $1', [user]);
    assert.deepEqual(rows.rows.map((r) => r.id), [id]);
  });

  it('a request refused with 404 workspace_not_found leaves no run record behind', async () => {
    const user = await newUser(c, 1000, 'repair-ws');
    const before = (await c.redis.keys(`${prefix}*`)).sort();
    for (const workspaceId of [stuck.id, newRunId()]) { // another user's run, and no run at all
      const res = await post(user, { prompt: 'write_file f.txt x', workspaceId });
      assert.equal(res.status, 404, JSON.stringify(res.body));
      assert.equal(res.body.error!.code, 'workspace_not_found');
    }
    const rows = await c.store.query('SELECT id FROM agent_runs WHERE user_id = $1', [user]);
    assert.equal(rows.rowCount, 0);
    assert.deepEqual((await c.redis.keys(`${prefix}*`)).sort(), before);
  });

  it('a start Temporal accepted but never answered: 503, the record stays queued, and the retry with the key gets that one run', async () => {
    // The API reaches Temporal through a TCP relay the test can blackhole: requests pass, answers are dropped.
    let blackhole = false;
    const sockets = new Set<Socket>();
    const [host, port] = stackEnv().TEMPORAL_ADDRESS!.split(':');
    const relay = createServer((client) => {
      const upstream = connect(Number(port), host);
      sockets.add(client).add(upstream);
      client.pipe(upstream);
      upstream.on('data', (d: Buffer) => { if (!blackhole) client.write(d); });
      const close = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const relayed = await startApi({
      ...stackEnv(), TEMPORAL_ADDRESS: `127.0.0.1:${(relay.address() as AddressInfo).port}`, TEMPORAL_TASK_QUEUE: taskQueue,
      QUEUE_KEY_PREFIX: prefix, QUEUE_CONSUMER: 'false', API_REPAIR_INTERVAL_S: '0',
    });
    try {
      const user = await newUser(c, 1000, 'repair-lost');
      const key = `lost-${randomBytes(4).toString('hex')}`;
      const body = { prompt: 'write_file g.txt once' };
      const postVia = async () => {
        const res = await fetch(`${relayed.url}/v1/runs`, {
          method: 'POST', headers: { authorization: `Bearer ${await mintToken(user)}`, 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body),
        });
        return { status: res.status, body: (await res.json()) as { id?: string; error?: { code: string } } };
      };
      blackhole = true;
      const lost = await postVia();
      assert.equal(lost.status, 503, JSON.stringify(lost.body));
      // Temporal did start it; the API could not know. Its record stays queued (not failed), the claim keeps its id.
      const listed = async () => {
        const l: string[] = [];
        for await (const w of c.temporal.workflow.list({ query: `UserId = "${user}"` })) l.push(w.workflowId);
        return l;
      };
      const ids = await waitUntil('the run visible in Temporal', async () => { const l = await listed(); return l.length > 0 ? l : undefined; }, 30_000);
      assert.equal(ids.length, 1);
      started.push(ids[0]!);
      assert.equal(await status(ids[0]!), 'queued');
      const claim = JSON.parse((await c.redis.get(redisKeys.idempotency(user, sha256Hex(key))))!) as { state: string; runId: string };
      assert.deepEqual([claim.state, claim.runId], ['retry', ids[0]]);
      // Temporal answers again (fresh connections): the client's retry with the same key is that run.
      blackhole = false;
      for (const s of sockets) s.destroy();
      const again = await waitUntil('the retry answered', async () => {
        const r = await postVia();
        return r.status === 202 ? r : undefined;
      }, 60_000);
      assert.equal(again.body.id, ids[0]);
      assert.deepEqual(await listed(), ids);
      assert.equal((await c.store.query('SELECT id FROM agent_runs WHERE user_id = $1', [user])).rowCount, 1);
    } finally {
      blackhole = false;
      await stop(relayed);
      for (const s of sockets) s.destroy();
      relay.close();
    }
  });
});
