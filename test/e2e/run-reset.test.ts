/**
 * A run reset with the real `temporal workflow reset` (what the Web UI's Reset does): the
 * new execution goes on from the chosen point, reopening the run — its record back to
 * running, its reservation taken again — after a `reset` marker on the same stream; the
 * steps it runs again run, are logged and are charged again, once; the ledger still sums
 * to the balance. A reset the user cannot pay for ends the run failed with the reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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
  /** The event id of the workflow task that completed after the `nth` (1-based) step activity did. */
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
    const id = await createRun(api!.url, 'write_file a.txt one\nwrite_file b.txt two\nwrite_file c.txt three');
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
