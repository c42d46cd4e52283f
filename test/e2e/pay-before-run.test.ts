/**
 * Pay before you run, and the gate on every plan change, through the real API,
 * worker and Postgres: the `budget: 1` abuse (shell steps that used to run free
 * after a rejected budget approval) runs nothing unpaid, a cancel mid-step pays
 * for the time used, concurrent runs never pass a monthly limit, a supervisor's
 * retry or replan that brings in `shell` waits for approval again, and a
 * model-chosen timeoutMs above the maximum is cut to it. Ledger sums checked.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunState } from '../../src/shared/run.ts';
import { statusQuery } from '../../src/workflows/definitions.ts';
import { apiFetch } from '../helpers/auth.ts';
import { FakeAnthropic, toolUse } from '../helpers/fake-anthropic.ts';
import { collect, parse } from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

type Api = Proc & { url: string };

describe('pay before you run, on every step (real API, worker, Postgres)', () => {
  let c: Clients;
  const procs: Proc[] = [];
  const fake = new FakeAnthropic();

  before(async () => {
    c = await connectClients();
    await fake.start();
  });
  after(async () => {
    await Promise.all(procs.map((p) => stop(p, 'SIGKILL')));
    await c.close();
    await fake.stop();
  });

  async function stackFor(user: string, extra: Record<string, string> = {}): Promise<Api> {
    const env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('pay-first'), DEFAULT_USER_ID: user, ...extra };
    const [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
    procs.push(worker, api);
    return api;
  }
  async function start(api: Api, body: Record<string, unknown>): Promise<string> {
    const res = await apiFetch(`${api.url}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = (await res.json()) as { id: string };
    assert.equal(res.status, 202, JSON.stringify(json));
    return json.id;
  }
  async function control(api: Api, id: string, action: string, body: Record<string, unknown> = {}) {
    const res = await apiFetch(`${api.url}/v1/runs/${id}/${action}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.ok(res.status < 300, `${action}: ${res.status} ${await res.text()}`);
  }
  const waiting = (id: string) => waitUntil(`run ${id} awaiting approval`, async () => {
    const s: RunState = await c.temporal.workflow.getHandle(id).query(statusQuery);
    return s.status === 'awaiting_approval' && s;
  }, 60_000);
  async function ledger(runId: string) {
    const r = await c.store.query<{ kind: string; amount: string }>('SELECT kind, amount FROM credit_ledger WHERE run_id = $1 ORDER BY id', [runId]);
    return r.rows.map((x) => [x.kind, Number(x.amount)]);
  }
  /** The user's ledger sums must equal the balance: nothing moved outside the ledger. */
  async function assertBalanced(user: string) {
    const r = await c.store.query<{ a: string; r: string }>('SELECT coalesce(sum(available_delta),0) AS a, coalesce(sum(reserved_delta),0) AS r FROM credit_ledger WHERE user_id = $1', [user]);
    assert.deepEqual({ available: Number(r.rows[0]!.a), reserved: Number(r.rows[0]!.r) }, await c.store.balance(user));
  }
  const stepRows = async (runId: string) =>
    (await c.store.query<{ step_index: number; tool: string }>('SELECT step_index, tool FROM agent_steps WHERE run_id = $1 ORDER BY step_index', [runId])).rows;

  it('budget 1: shell steps no longer run free — each waits for budget before it starts; rejecting runs nothing and charges nothing', async () => {
    const user = await newUser(c, 1000, 'abuse');
    const api = await stackFor(user);
    // The abuse: many runs with budget 1, each a full-length shell step, each budget approval rejected.
    const ids = await Promise.all([1, 2, 3].map(() => start(api, { prompt: 'shell sh -c "touch ran.txt; sleep 50"', budget: 1 })));
    for (const id of ids) {
      const s = await waiting(id);
      assert.equal(s.waitingFor?.kind, 'budget');
      assert.equal(s.waitingFor?.detail, 'step 0 (shell) needs 7 credit(s) up front; the run has 1 left');
      await control(api, id, 'approve', { approved: false, comment: 'no more budget' });
    }
    for (const id of ids) {
      const events = await collect(api.url, id);
      const end = parse(events.at(-1)!);
      assert.equal(end.status, 'cancelled');
      assert.deepEqual(end.error, { code: 'rejected', message: 'rejected: no more budget' });
      assert.ok(!events.some((e) => e.event === 'step'), 'no step started');
      assert.deepEqual(await ledger(id), [['reserve', 1], ['release', 1]]);
      assert.deepEqual(await stepRows(id), []);
    }
    assert.deepEqual(await c.store.balance(user), { available: 1000, reserved: 0 });
    await assertBalanced(user);
  });

  it('a run pays each step before it starts: what it may still spend never covers a step it cannot pay for', async () => {
    const user = await newUser(c, 1000, 'paid');
    const api = await stackFor(user);
    // 10 credits: the first shell step holds 7 and costs 2; the second needs 7 with 8 left; the third 7 with 6 left.
    const id = await start(api, { prompt: 'shell true\nshell true\nshell true', budget: 10 });
    const s = await waiting(id);
    assert.equal(s.waitingFor?.detail, 'step 2 (shell) needs 7 credit(s) up front; the run has 6 left');
    assert.equal(s.creditsCharged, 4);
    await control(api, id, 'approve', { approved: false });
    const events = await collect(api.url, id);
    assert.equal(parse(events.at(-1)!).status, 'cancelled');
    assert.deepEqual(await ledger(id), [['reserve', 10], ['charge', 2], ['charge', 2], ['release', 6]]);
    assert.deepEqual((await stepRows(id)).map((r) => r.step_index), [0, 1]);
    const holds = await c.store.query<{ step_index: number; amount: string; charged: string; status: string }>(
      'SELECT step_index, amount, charged, status FROM credit_holds WHERE run_id = $1 ORDER BY created_at', [id]);
    assert.deepEqual(holds.rows.map((h) => [h.step_index, Number(h.amount), Number(h.charged), h.status]), [[0, 7, 2, 'settled'], [1, 7, 2, 'settled']]);
    await assertBalanced(user);
  });

  it('cancelled mid-step: charged for the time used (at least the base price), the rest of the reservation released, ledger balanced', async () => {
    const user = await newUser(c, 1000, 'cancel');
    const api = await stackFor(user);
    const id = await start(api, { prompt: 'shell sleep 60' });
    const done = collect(api.url, id, { timeoutMs: 90_000 });
    await waitUntil('step started', async () => (await stepRows(id)).length === 1);
    await control(api, id, 'cancel');
    const events = await done;
    assert.equal(parse(events.at(-1)!).status, 'cancelled');
    const rows = await ledger(id);
    const charged = rows.find(([k]) => k === 'charge')?.[1] as number;
    assert.ok(charged >= 2 && charged <= 7, `charged ${charged}`);
    assert.deepEqual(rows, [['reserve', 100], ['charge', charged], ['release', 100 - charged]]);
    const usage = events.filter((e) => e.event === 'usage').map(parse);
    assert.deepEqual(usage.map((u) => [u.credits, u.partial]), [[charged, 'cancelled mid-way']]);
    const res = await c.store.query<{ status: string; held: string }>('SELECT status, held FROM credit_reservations WHERE run_id = $1', [id]);
    assert.deepEqual(res.rows.map((r) => [r.status, Number(r.held)]), [['released', 0]]);
    assert.deepEqual(await c.store.balance(user), { available: 1000 - charged, reserved: 0 });
    await assertBalanced(user);
  });

  it('concurrent runs against a monthly limit of 10: the user\'s charges never pass it; a run that cannot hold ends with the reason', async () => {
    const user = await newUser(c, 1000, 'monthly');
    await c.store.setLimits(user, { dailyTokenLimit: null, monthlyCostLimit: 10 });
    const api = await stackFor(user);
    const ids = await Promise.all([1, 2, 3, 4].map(() => start(api, { prompt: 'shell true\nshell true\nshell true' })));
    const ends = await Promise.all(ids.map(async (id) => parse((await collect(api.url, id, { timeoutMs: 120_000 })).at(-1)!)));
    const failed = ends.filter((e) => e.status === 'failed');
    assert.ok(failed.length >= 1, JSON.stringify(ends));
    for (const e of failed) {
      const err = e.error as { code: string; message: string };
      assert.equal(err.code, 'budget_exceeded');
      assert.match(err.message, /monthly cost limit of 10 credits/);
    }
    const spent = await c.store.query<{ s: string }>("SELECT coalesce(sum(amount),0) AS s FROM credit_ledger WHERE user_id = $1 AND kind = 'charge'", [user]);
    assert.ok(Number(spent.rows[0]!.s) <= 10, `spent ${spent.rows[0]!.s}`);
    const open = await c.store.query<{ n: string }>("SELECT count(*) AS n FROM credit_holds WHERE user_id = $1 AND status = 'held'", [user]);
    assert.equal(Number(open.rows[0]!.n), 0);
    assert.deepEqual((await c.store.balance(user)).reserved, 0);
    await assertBalanced(user);
  });

  describe('with the Anthropic provider, APPROVAL_TOOLS=shell and SHELL_TIMEOUT_MAX_MS=6000', () => {
    let api: Api;
    let user: string;
    before(async () => {
      user = await newUser(c, 1000, 'gate');
      api = await stackFor(user, {
        LLM_PROVIDER: 'anthropic', ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_MODEL: 'claude-sonnet-4-5',
        APPROVAL_TOOLS: 'shell', SHELL_TIMEOUT_MS: '5000', SHELL_TIMEOUT_MAX_MS: '6000',
      });
    });

    it('a supervisor retry that swaps in a shell step waits for approval again, shows old and new step; a rejection runs nothing', async () => {
      fake.push(
        toolUse('submit_plan', { summary: 'note', steps: [{ tool: 'write_file', path: 'notes.txt', content: 'hello' }] }),
        toolUse('decide', { decision: { action: 'retry', reason: 'do it with a shell', step: { tool: 'shell', argv: ['sh', '-c', 'echo pwned > pwned.txt'] } } }),
      );
      const id = await start(api, { prompt: 'Write a note.' });
      const s = await waiting(id);
      assert.equal(s.waitingFor?.kind, 'approval');
      assert.equal(s.waitingFor?.detail, 'the supervisor\'s retry adds shell step(s)');
      await control(api, id, 'approve', { approved: false, comment: 'no shell' });
      const events = await collect(api.url, id);
      assert.equal(parse(events.at(-1)!).status, 'cancelled');
      const asked = events.map(parse).find((e) => e.change !== undefined)!;
      assert.deepEqual(asked.change, {
        kind: 'retry', planIndex: 0, reason: 'do it with a shell',
        before: [{ tool: 'write_file', path: 'notes.txt', content: 'hello' }],
        after: [{ tool: 'shell', argv: ['sh', '-c', 'echo pwned > pwned.txt'], timeoutMs: 5000 }],
      });
      assert.deepEqual((await stepRows(id)).map((r) => r.tool), ['write_file']);
      assert.equal(fake.pending, 0);
      await assertBalanced(user);
    });

    it('a replan that adds a shell step waits for approval again; approved, it runs', async () => {
      fake.push(
        toolUse('submit_plan', { summary: 'note', steps: [{ tool: 'write_file', path: 'notes.txt', content: 'hello' }] }),
        toolUse('decide', { decision: { action: 'replan', reason: 'check it too' } }),
        toolUse('submit_plan', { summary: 'check', steps: [{ tool: 'shell', argv: ['cat', 'notes.txt'] }] }),
        toolUse('decide', { decision: { action: 'finish', reason: 'done', outcome: 'completed' } }),
      );
      const id = await start(api, { prompt: 'Write a note.' });
      const s = await waiting(id);
      assert.equal(s.waitingFor?.detail, 'the new plan adds shell step(s)');
      assert.deepEqual((await stepRows(id)).map((r) => r.tool), ['write_file'], 'the shell step waits');
      await control(api, id, 'approve', { approved: true, comment: 'reading is fine' });
      const events = await collect(api.url, id, { timeoutMs: 90_000 });
      assert.equal(parse(events.at(-1)!).status, 'completed');
      assert.deepEqual(events.filter((e) => e.event === 'log' && parse(e).stream === 'stdout').map((e) => parse(e).text), ['hello']);
      await assertBalanced(user);
    });

    it('a model-chosen timeoutMs above SHELL_TIMEOUT_MAX_MS is cut to it: the log says so, the step stops there, and it is held and charged at the cut limit', async () => {
      fake.push(
        toolUse('submit_plan', { summary: 'wait', steps: [{ tool: 'shell', argv: ['sleep', '30'], timeoutMs: 3_600_000 }] }),
        toolUse('decide', { decision: { action: 'finish', reason: 'it timed out', outcome: 'failed' } }),
      );
      const id = await start(api, { prompt: 'Wait an hour.' });
      const s = await waiting(id);
      assert.equal(s.waitingFor?.detail, 'the plan uses shell');
      await control(api, id, 'approve');
      const events = await collect(api.url, id, { timeoutMs: 90_000 });
      const logs = events.filter((e) => e.event === 'log').map(parse);
      assert.ok(logs.some((l) => l.stream === 'gate' && l.text === 'plan step 0: timeoutMs 3600000 is above the maximum of 6000; cut to 6000'));
      const step = events.filter((e) => e.event === 'step').map(parse).find((e) => e.phase === 'completed')!;
      assert.equal(step.summary, 'sleep: timed out after 6000 ms');
      assert.ok(logs.some((l) => l.stream === 'credits' && l.held === 2 && l.index === 0), 'held 1 + one started 10 s');
      assert.deepEqual(events.filter((e) => e.event === 'usage').map(parse).filter((u) => u.index === 0).map((u) => u.credits), [2]);
      assert.equal(parse(events.at(-1)!).status, 'failed');
      await assertBalanced(user);
    });
  });
});
