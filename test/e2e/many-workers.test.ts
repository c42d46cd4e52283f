/**
 * Three workers polling one task queue at once, as a deployment runs them: 100 runs
 * spread over them, one worker SIGKILLed and another SIGTERMed mid-way. Every run
 * completes, and the accounting at the end shows each step's effect once: one record
 * per step, each step's events once on its stream, one charge per step in the ledger,
 * every reservation settled, each file written by its step holding its content.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { redisKeys } from '../../src/shared/names.ts';
import { apiFetch } from '../helpers/auth.ts';
import * as runs from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

const RUNS = 100;
const STEPS = 3;

describe('three workers at once, one killed and one stopped mid-way', () => {
  let c: Clients;
  let api: (Proc & { url: string }) | undefined;
  const workers: Proc[] = [];
  let user: string;

  before(async () => {
    c = await connectClients();
    user = await newUser(c, 1_000_000, 'many-workers');
    const env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('many'), DEFAULT_USER_ID: user, API_MAX_ACTIVE_RUNS: String(RUNS) };
    api = await startApi(env);
    for (const build of ['w1', 'w2', 'w3']) workers.push(await startWorker({ ...env, WORKER_BUILD_ID: build }));
  });
  after(async () => {
    await Promise.all([stop(api), ...workers.map((w) => stop(w, 'SIGKILL'))]);
    await c?.close();
  });

  it('completes all 100 runs, each step\'s effect once', async () => {
    const prompt = (i: number) => [`write_file out/${i}.txt run ${i}`, `shell sh -c "sleep 0.2; echo shell-${i}"`, `write_file out/${i}.txt run ${i} again`].join('\n');
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i++) ids.push(await runs.createRun(api!.url, prompt(i)));
    const ended = async () => {
      const r = await c.store.query<{ n: string }>("SELECT count(*) AS n FROM agent_runs WHERE id = ANY($1) AND status IN ('completed','failed','cancelled')", [ids]);
      return Number(r.rows[0]!.n);
    };
    // Mid-way: one worker dies without warning, another is stopped as a rollout stops it.
    await waitUntil('a third of the runs ended', async () => (await ended()) >= RUNS / 3, 180_000);
    workers[0]!.child.kill('SIGKILL');
    workers[1]!.child.kill('SIGTERM');
    const [killed, stopped] = await Promise.all([workers[0]!.exited, workers[1]!.exited]);
    assert.equal(killed.signal, 'SIGKILL');
    assert.equal(stopped.code, 0, 'the SIGTERMed worker drained and exited cleanly');
    await waitUntil('every run ended', async () => (await ended()) === RUNS || undefined, 300_000);

    const statuses = await c.store.query<{ id: string; status: string }>('SELECT id, status FROM agent_runs WHERE id = ANY($1)', [ids]);
    assert.deepEqual(statuses.rows.filter((r) => r.status !== 'completed'), [], 'every run completed');
    const steps = await c.store.query<{ run_id: string; n: string; done: string }>(
      "SELECT run_id, count(*) AS n, count(*) FILTER (WHERE status = 'completed') AS done FROM agent_steps WHERE run_id = ANY($1) GROUP BY run_id", [ids]);
    assert.equal(steps.rows.length, RUNS);
    for (const r of steps.rows) assert.deepEqual([Number(r.n), Number(r.done)], [STEPS, STEPS], r.run_id);
    const charges = await c.store.query<{ run_id: string; step_index: number; n: string }>(
      "SELECT run_id, step_index, count(*) AS n FROM credit_ledger WHERE run_id = ANY($1) AND kind = 'charge' AND step_index IS NOT NULL GROUP BY run_id, step_index", [ids]);
    assert.equal(charges.rows.length, RUNS * STEPS, 'a charge for every step');
    assert.deepEqual(charges.rows.filter((r) => Number(r.n) !== 1), [], 'and only one');
    const balance = await c.store.query<{ reserved: string }>('SELECT reserved_credits AS reserved FROM credit_balances WHERE user_id = $1', [user]);
    assert.equal(Number(balance.rows[0]?.reserved ?? 0), 0, 'no reservation left open');
    for (const [i, id] of ids.entries()) {
      const stream = await c.redis.xrange(redisKeys.events(id), '-', '+');
      const stepEvents = stream.filter(([, f]) => f[1] === 'step').map(([, f]) => JSON.parse(f[3]!) as { index: number; phase: string });
      for (let s = 0; s < STEPS; s++) {
        for (const phase of ['started', 'completed']) assert.equal(stepEvents.filter((e) => e.index === s && e.phase === phase).length, 1, `run ${i} step ${s} ${phase}`);
      }
    }
    for (const [i, id] of ids.entries()) {
      const file = await apiFetch(`${api!.url}/v1/runs/${id}/files/out/${i}.txt`);
      assert.equal(await file.text(), `run ${i} again`, `run ${i}'s file holds its last step's content`);
    }
    const spread = new Set<string>();
    for (const id of ids.slice(0, 30)) {
      for (const e of (await c.temporal.workflow.getHandle(id).fetchHistory()).events ?? []) {
        const who = e.activityTaskStartedEventAttributes?.identity;
        if (who) spread.add(who);
      }
    }
    assert.ok(spread.size >= 3, `the runs' activities ran on ${spread.size} worker(s)`);
  });
});
