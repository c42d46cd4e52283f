/**
 * Credits through whole runs: reserved before planning, held before and charged
 * after each step, settled or released exactly once — across failures, cancellation, a refused
 * reservation and a worker killed near the end. Both store adapters.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { redisKeys } from '../../src/shared/names.ts';
import { activityNames, collect, createRun, parse } from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';
import { apiFetch, mintToken, rememberToken } from '../helpers/auth.ts';

async function ledger(c: Clients, runId: string): Promise<{ kind: string; amount: number }[]> {
  const r = await c.store.query<{ kind: string; amount: string }>('SELECT kind, amount FROM credit_ledger WHERE run_id = $1 ORDER BY id', [runId]);
  return r.rows.map((x) => ({ kind: x.kind, amount: Number(x.amount) }));
}

async function calledActivities(c: Clients, runId: string): Promise<string[]> {
  return activityNames(await c.temporal.workflow.getHandle(runId).fetchHistory());
}

for (const storeKind of ['postgres', 'supabase'] as const) {
  describe(`credits through runs (STORE=${storeKind})`, () => {
    let c: Clients;
    let env: Record<string, string>;
    let worker: Proc;
    let api: Proc & { url: string };
    const procs: Proc[] = [];

    // One worker and one API for the file's runs; each test acts as a user of its own (its token).
    before(async () => {
      c = await connectClients();
      env = { ...stackEnv(), STORE: storeKind, TEMPORAL_TASK_QUEUE: uniqueQueue(`credits-${storeKind}`), RUN_CREDIT_RESERVATION: '100' };
      [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
      procs.push(worker, api);
    });
    after(async () => {
      await Promise.all(procs.map((p) => stop(p, 'SIGKILL')));
      await c.close();
    });

    /** A new user with `credits`, whose token the helpers send to the API from now on. */
    async function actAs(credits: number, label: string): Promise<string> {
      const user = await newUser(c, credits, label);
      rememberToken(api.url, await mintToken(user));
      return user;
    }

    it('a completed run is charged per step, the rest returns, and its records are complete', async () => {
      const user = await actAs(1000, 'paid');
      const id = await createRun(api.url, 'write_file a.txt x\nshell echo hi\nread_file a.txt');
      const events = await collect(api.url, id);
      assert.equal(parse(events.at(-1)!).status, 'completed');
      assert.deepEqual(events.filter((e) => e.event === 'usage').map((e) => parse(e).credits), [1, 2, 1]);
      assert.deepEqual(await ledger(c, id), [
        { kind: 'reserve', amount: 100 }, { kind: 'charge', amount: 1 }, { kind: 'charge', amount: 2 }, { kind: 'charge', amount: 1 }, { kind: 'release', amount: 96 },
      ]);
      assert.deepEqual(await c.store.balance(user), { available: 996, reserved: 0 });
      const rec = await c.store.getRun(id);
      assert.equal(rec!.status, 'completed');
      assert.equal(Number(rec!.credits_charged), 4);
      assert.ok(rec!.started_at && rec!.finished_at);
      const steps = await c.store.query<{ step_index: number; status: string; credits: string }>('SELECT step_index, status, credits FROM agent_steps WHERE run_id = $1 ORDER BY step_index', [id]);
      assert.deepEqual(steps.rows.map((s) => [s.step_index, s.status, Number(s.credits)]), [[0, 'completed', 1], [1, 'completed', 2], [2, 'completed', 1]]);
      const view = (await (await apiFetch(`${api.url}/v1/runs/${id}`)).json()) as { usage: { credits: number } };
      assert.equal(view.usage.credits, 4);
    });

    it('insufficient credits: failed with reason insufficient_credits, no retry, no plan, nothing charged', async () => {
      const user = await actAs(5, 'poor');
      const id = await createRun(api.url, 'write_file a.txt x');
      const events = await collect(api.url, id);
      const end = parse(events.at(-1)!);
      assert.equal(end.status, 'failed');
      assert.equal((end.error as { code: string }).code, 'insufficient_credits');
      assert.match((end.error as { message: string }).message, /100 credits needed, 5 available/);
      await assert.rejects(c.temporal.workflow.getHandle(id).result(), (e: unknown) => {
        const cause = (e as { cause?: { type?: string; nonRetryable?: boolean } }).cause;
        return cause?.type === 'insufficient_credits' && cause.nonRetryable === true;
      });
      const d = await c.temporal.workflow.getHandle(id).describe();
      assert.equal(d.status.name, 'FAILED');
      const names = await calledActivities(c, id);
      assert.equal(names.filter((n) => n === 'openRun').length, 1);
      assert.ok(!names.includes('plan') && !names.includes('runPaidStep') && !names.includes('runStep') && !names.includes('reserveCredits'));
      assert.deepEqual(await ledger(c, id), []);
      assert.deepEqual(await c.store.balance(user), { available: 5, reserved: 0 });
      const rec = await c.store.getRun(id);
      assert.equal(rec!.status, 'failed');
      assert.deepEqual((rec!.error as { code: string }).code, 'insufficient_credits');
    });

    it('a failing step and a cancelled run release their reservation', async () => {
      const user = await actAs(1000, 'release');
      const failed = await createRun(api.url, 'shell false\nwrite_file never.txt x');
      const fe = await collect(api.url, failed);
      assert.equal((parse(fe.at(-1)!).error as { code: string }).code, 'StepFailed');
      assert.deepEqual(await ledger(c, failed), [{ kind: 'reserve', amount: 100 }, { kind: 'charge', amount: 2 }, { kind: 'release', amount: 98 }]);

      const cancelled = await createRun(api.url, 'shell sleep 60');
      const ce = collect(api.url, cancelled);
      await waitUntil('step started', async () => (await c.redis.xrange(redisKeys.events(cancelled), '-', '+')).some(([, f]) => f[3]!.includes('"started"')));
      const r = spawnSync(env.TEMPORAL_CLI!, ['workflow', 'cancel', '--workflow-id', cancelled, '--address', env.TEMPORAL_ADDRESS!], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(parse((await ce).at(-1)!).status, 'cancelled');
      // Pay before you run: the cancelled step pays for the time it ran (base price + started 10 s), at most its hold.
      const used = (await ledger(c, cancelled)).find((l) => l.kind === 'charge')?.amount ?? 0;
      assert.ok(used >= 2 && used <= 7, `charged ${used}`);
      assert.deepEqual(await ledger(c, cancelled), [{ kind: 'reserve', amount: 100 }, { kind: 'charge', amount: used }, { kind: 'release', amount: 100 - used }]);
      assert.deepEqual(await c.store.balance(user), { available: 998 - used, reserved: 0 });
      assert.equal((await c.store.getRun(cancelled))!.status, 'cancelled');
    });

    it('a worker SIGKILLed as the run settles: the new worker finishes it, charged and settled once', async () => {
      const user = await actAs(1000, 'kill');
      const id = await createRun(api.url, 'write_file a.txt x\nwrite_file b.txt y');
      await waitUntil('last step charged', async () => (await ledger(c, id)).filter((l) => l.kind === 'charge').length === 2, 30_000);
      worker.child.kill('SIGKILL');
      await worker.exited;
      worker = await startWorker(env);
      procs.push(worker);
      const events = await collect(api.url, id, { timeoutMs: 90_000 });
      assert.equal(parse(events.at(-1)!).status, 'completed');
      assert.deepEqual(await ledger(c, id), [{ kind: 'reserve', amount: 100 }, { kind: 'charge', amount: 1 }, { kind: 'charge', amount: 1 }, { kind: 'release', amount: 98 }]);
      assert.deepEqual(await c.store.balance(user), { available: 998, reserved: 0 });
      assert.equal(events.filter((e) => e.event === 'end').length, 1);
    });
  });
}
