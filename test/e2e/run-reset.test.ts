/**
 * A run reset with the real `temporal workflow reset` (what the Web UI's Reset does): the
 * new execution goes on from the chosen point, reopening the run — its record back to
 * running, its reservation taken again — after a `reset` marker on the same stream; the
 * steps it runs again run, are logged and are charged again, once; the ledger still sums
 * to the balance. A reset the user cannot pay for ends the run failed with the reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { s3Keys } from '../../src/shared/names.ts';
import { temporalCli } from '../helpers/temporal-cli.ts';
import { collect, createRun, parse } from '../helpers/runs.ts';
import { apiFetch } from '../helpers/auth.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

describe('a run reset in Temporal', () => {
  let c: Clients;
  let env: Record<string, string>;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let user: string;

  before(async () => {
    c = await connectClients();
    user = await newUser(c, 1000, 'reset');
    env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('reset'), DEFAULT_USER_ID: user, RUN_CREDIT_RESERVATION: '20' };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c.close();
  });

  const temporal = (...args: string[]) => temporalCli(env)(...args);
  const view = async (id: string) => (await (await apiFetch(`${api!.url}/v1/runs/${id}`)).json()) as { status: string; error?: { code: string; message: string }; usage: { credits: number } };
  const ledger = async (id: string) => (await c.store.query<{ kind: string; step_index: number | null; amount: string; idempotency_key: string }>(
    'SELECT kind, step_index, amount, idempotency_key FROM credit_ledger WHERE run_id = $1 ORDER BY id', [id])).rows;
  const sums = async (u: string) => {
    const r = (await c.store.query<{ a: string; r: string }>('SELECT sum(available_delta) AS a, sum(reserved_delta) AS r FROM credit_ledger WHERE user_id = $1', [u])).rows[0]!;
    return { available: Number(r.a), reserved: Number(r.r) };
  };
  /**
   * The event id of the workflow task that completed after the `nth` (1-based) step activity did. A reset
   * point is a workflow task: file steps (local activities) run back to back inside one, so the runs below
   * begin with a shell step, an activity, to have a point after it.
   */
  async function afterStep(id: string, nth: number): Promise<number> {
    const events = (await c.temporal.workflow.getHandle(id).fetchHistory()).events ?? [];
    let steps = 0;
    for (const e of events) {
      if (e.activityTaskCompletedEventAttributes) steps += 1;
      if (steps === nth && e.workflowTaskCompletedEventAttributes) return Number(e.eventId);
    }
    throw new Error(`no workflow task completed after step ${nth} of ${id}`);
  }
  /** Resets the run as an operator does, and waits until its new execution has ended. */
  async function reset(id: string, to: string[]): Promise<string> {
    const first = (await c.temporal.workflow.getHandle(id).describe()).runId;
    temporal('workflow', 'reset', '--workflow-id', id, ...to, '--reason', 'test: run it again from here', '--yes');
    return waitUntil('the reset execution ended', async () => {
      const d = await c.temporal.workflow.getHandle(id).describe();
      return d.runId !== first && d.status.name !== 'RUNNING' ? d.runId : undefined;
    }, 60_000);
  }

  it('reset to after a completed step: the later steps run again after a reset marker, charged once more, and the run completes again', async () => {
    const id = await createRun(api!.url, 'shell true\nwrite_file b.txt two\nwrite_file c.txt three');
    const before = await collect(api!.url, id);
    assert.equal(parse(before.at(-1)!).status, 'completed');
    const charged = (await view(id)).usage.credits;

    const epoch = await reset(id, ['--event-id', String(await afterStep(id, 1))]);
    const all = await collect(api!.url, id);
    // The same stream: what was there, the marker, then the new execution's events.
    assert.deepEqual(all.slice(0, before.length).map((m) => m.id), before.map((m) => m.id));
    const marker = all[before.length]!;
    assert.equal(marker.event, 'reset');
    assert.deepEqual(parse(marker), { epoch, previous: 'completed', reserved: 20 });
    const again = all.slice(before.length + 1);
    const started = again.filter((m) => m.event === 'step' && parse(m).phase === 'started').map((m) => parse(m).path);
    assert.deepEqual(started, ['b.txt', 'c.txt'], 'the steps after the reset point ran again; the first did not');
    assert.equal(again.at(-1)!.event, 'end');
    assert.equal(parse(again.at(-1)!).status, 'completed');
    assert.equal(new Set(all.map((m) => m.id)).size, all.length, 'no entry twice');

    const v = await view(id);
    assert.equal(v.status, 'completed');
    const rows = await ledger(id);
    assert.deepEqual(rows.filter((r) => r.kind === 'reserve').map((r) => Number(r.amount)), [20, 20], 'reserved again for the reset');
    const stepCharges = rows.filter((r) => r.kind === 'charge' && r.step_index !== null).map((r) => r.step_index);
    assert.deepEqual(stepCharges, [0, 1, 2, 1, 2], 'steps 2 and 3 charged once more, step 1 not');
    assert.equal(v.usage.credits, charged + 2, 'the record counts every charge');
    assert.equal(rows.filter((r) => r.kind === 'release').length, 2, 'each execution returned what it did not use');
    assert.deepEqual(await sums(user), await c.store.balance(user));
    assert.equal((await c.store.balance(user)).reserved, 0);
    const file = await apiFetch(`${api!.url}/v1/runs/${id}/files/c.txt`);
    assert.equal(await file.text(), 'three');
  });

  it('a fork of a reset run reads the records of the execution that ran each step: steps the reset ran first included', async () => {
    // The first execution fails at step 2 (b.txt is missing), so steps 3 and 4 exist only in the reset one.
    const id = await createRun(api!.url, 'shell sh -c "printf one > a.txt"\nread_file b.txt\nwrite_file a.txt three\nwrite_file d.txt four');
    assert.equal(parse((await collect(api!.url, id)).at(-1)!).status, 'failed');
    // The operator supplies what was missing, then resets the run to after step 1.
    await c.s3.send(new PutObjectCommand({ Bucket: c.config.s3.bucket, Key: `${s3Keys.workspaceFiles(user, id)}b.txt`, Body: 'supplied' }));
    await reset(id, ['--event-id', String(await afterStep(id, 1))]);
    assert.equal((await view(id)).status, 'completed');

    const fork = async (fromStep: number) => {
      const res = await apiFetch(`${api!.url}/v1/runs/${id}/fork`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fromStep, requireApproval: true }) });
      return { status: res.status, body: await res.json() as { id: string; error?: { code: string } } };
    };
    const file = async (run: string, path: string) => (await apiFetch(`${api!.url}/v1/runs/${run}/files/${path}`)).text();
    // Step 3 ran only in the reset execution: the fork finds its record and the workspace it left.
    const third = await fork(3);
    assert.equal(third.status, 202, JSON.stringify(third.body));
    await waitUntil('the fork waits for approval', async () => (await view(third.body.id)).status === 'awaiting_approval');
    assert.equal(await file(third.body.id, 'a.txt'), 'three');
    assert.equal((await apiFetch(`${api!.url}/v1/runs/${third.body.id}/files/d.txt`)).status, 404, 'step 4 is not part of it');
    // Step 1 ran only in the first execution: its record is the first execution's.
    const first = await fork(1);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    await waitUntil('the fork waits for approval', async () => (await view(first.body.id)).status === 'awaiting_approval');
    assert.equal(await file(first.body.id, 'a.txt'), 'one');
    // Past the last step the run ran: refused with the count.
    const past = await fork(9);
    assert.equal(past.status, 409, JSON.stringify(past.body));
    assert.equal(past.body.error?.code, 'no_such_step');
    for (const f of [third, first]) await apiFetch(`${api!.url}/v1/runs/${f.body.id}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  });

  it('a reset the user cannot pay for again ends the run failed with insufficient_credits, nothing charged', async () => {
    const poor = await newUser(c, 21, 'reset-poor');
    const poorEnv = { ...env, DEFAULT_USER_ID: poor };
    const poorApi = await startApi(poorEnv);
    try {
      const id = await createRun(poorApi.url, 'write_file a.txt one\nwrite_file b.txt two');
      const before = await collect(poorApi.url, id);
      assert.equal(parse(before.at(-1)!).status, 'completed');
      const balance = await c.store.balance(poor);
      assert.ok(balance.available < 20, `${balance.available} left: less than a reservation`);
      await reset(id, ['--type', 'FirstWorkflowTask']);
      const all = await collect(poorApi.url, id);
      const marker = all[before.length]!;
      assert.equal(marker.event, 'reset');
      assert.equal(parse(marker).refused, 'insufficient_credits');
      const end = parse(all.at(-1)!);
      assert.equal(end.status, 'failed');
      assert.equal((end.error as { code: string }).code, 'insufficient_credits');
      const record = await c.store.getRun(id);
      assert.equal(record?.status, 'failed');
      assert.deepEqual(await c.store.balance(poor), balance, 'nothing charged or reserved');
      assert.deepEqual(await sums(poor), balance);
    } finally {
      await stop(poorApi);
    }
  });
});
