/**
 * Fair under a flood: user X fills the task queue with 400 runs (priority 5) on a worker
 * with two activity slots; then user Y starts one run, and X a priority-1 one. Temporal's
 * task queue fairness (fairness key = user, `matching.enableFairness` on the dev server)
 * and priority (priority key = the run's priority) must put each of them ahead of X's
 * backlog: their first step starts within a bound that does not grow with the backlog —
 * asserted as below the time X's first 20 runs took, with the measured figures printed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { redisKeys } from '../../src/shared/names.ts';
import { mintToken } from '../helpers/auth.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

const BACKLOG = 400;

describe('fair under a flood: another user\'s run, and a priority-1 run, go ahead of a 400-run backlog', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let x: string;
  let y: string;
  const tokens: Record<string, string> = {};
  const backlog: string[] = [];
  let env: Record<string, string>;

  const start = async (who: string, prompt: string, priority?: number): Promise<{ id: string; at: number }> => {
    const at = Date.now();
    const res = await fetch(`${api!.url}/v1/runs`, {
      method: 'POST', headers: { authorization: `Bearer ${tokens[who]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt, ...(priority ? { priority } : {}) }),
    });
    const body = (await res.json()) as { id: string };
    assert.equal(res.status, 202, JSON.stringify(body));
    return { id: body.id, at };
  };
  /** When the run's first step started (its `started` event on the log), polled. */
  const firstStepStarted = (id: string) => waitUntil(`${id}'s first step`, async () => {
    const rows = await c.redis.xrange(redisKeys.events(id), '-', '+');
    return rows.some(([, f]) => f[1] === 'step' && (JSON.parse(f[3]!) as { phase: string }).phase === 'started') ? Date.now() : undefined;
  }, 120_000);
  const endedOf = async (user: string) => Number((await c.store.query<{ n: string }>(
    "SELECT count(*) AS n FROM agent_runs WHERE user_id = $1 AND status IN ('completed','failed','cancelled')", [user])).rows[0]!.n);
  const notStartedOf = async (ids: string[]) => {
    let n = 0;
    for (const id of ids) {
      const rows = await c.redis.xrange(redisKeys.events(id), '-', '+');
      if (!rows.some(([, f]) => f[1] === 'step')) n += 1;
    }
    return n;
  };

  before(async () => {
    c = await connectClients();
    x = await newUser(c, 1_000_000, 'flood-x');
    y = await newUser(c, 10_000, 'flood-y');
    for (const u of [x, y]) tokens[u] = await mintToken(u);
    env = {
      ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('flood'), API_MAX_ACTIVE_RUNS: String(BACKLOG + 10),
      WORKER_MAX_CONCURRENT_ACTIVITIES: '2', WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '4',
    };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    // The backlog is cancelled through the API, as an operator would clear it, and drained by a
    // roomier worker until every record has ended: nothing is left queued for other tests.
    for (let i = 0; i < backlog.length; i += 25) {
      await Promise.all(backlog.slice(i, i + 25).map((id) => fetch(`${api!.url}/v1/runs/${id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${tokens[x]}` } }).catch(() => undefined)));
    }
    const drain = await startWorker({ ...env, WORKER_MAX_CONCURRENT_ACTIVITIES: '20', WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '40' });
    try {
      await waitUntil('the backlog ended', async () => Number((await c.store.query<{ n: string }>(
        "SELECT count(*) AS n FROM agent_runs WHERE user_id = $1 AND status NOT IN ('completed','failed','cancelled')", [x])).rows[0]!.n) === 0 || undefined, 180_000);
    } finally {
      await Promise.all([stop(api), stop(worker), stop(drain)]);
      await c?.close();
    }
  });

  it('Y\'s run and X\'s priority-1 run start their first step long before X\'s backlog drains', async (t) => {
    const floodStart = Date.now();
    for (let i = 0; i < BACKLOG; i += 25) {
      const batch = await Promise.all(Array.from({ length: Math.min(25, BACKLOG - i) }, (_, j) => start(x, `shell sh -c "sleep 1; echo ${i + j}"`, 5)));
      backlog.push(...batch.map((b) => b.id));
    }
    const postedMs = Date.now() - floodStart;

    // Shell steps, as the backlog's: activities in the same task queue (a file step is a local activity, run
    // inside its run's workflow task, and would not wait in the activity queue at all).
    const other = await start(y, 'shell echo my turn');
    const otherWaitMs = (await firstStepStarted(other.id)) - other.at;
    const urgent = await start(x, 'shell echo first', 1);
    const urgentWaitMs = (await firstStepStarted(urgent.id)) - urgent.at;
    const stillWaiting = await notStartedOf(backlog);

    await waitUntil('20 of X\'s runs ended', async () => (await endedOf(x)) >= 20 || undefined, 300_000);
    const twentyMs = Date.now() - floodStart;
    t.diagnostic(`${BACKLOG} runs posted in ${postedMs} ms; Y's first step after ${otherWaitMs} ms; X's priority-1 run's after ${urgentWaitMs} ms (${stillWaiting} of the backlog not started yet); X's first 20 runs took ${twentyMs} ms`);
    assert.ok(otherWaitMs < twentyMs, `Y waited ${otherWaitMs} ms, X's first 20 runs took ${twentyMs} ms`);
    assert.ok(urgentWaitMs < twentyMs, `the priority-1 run waited ${urgentWaitMs} ms, X's first 20 runs took ${twentyMs} ms`);
    assert.ok(stillWaiting > BACKLOG / 2, `the priority-1 run overtook the backlog: ${stillWaiting} of ${BACKLOG} had not started`);
  });
});
