/**
 * Pay before you run, in the SQL functions both adapters call: holds against a
 * run's reservation, settling to the actual cost (capped at the hold), and the
 * monthly cost limit enforced at hold, charge and extend — under concurrency,
 * with the ledger summing to the balance.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { newRunId } from '../../src/runs/ids.ts';
import type { PgStore } from '../../src/store/pg.ts';
import type { CreditResult, Store } from '../../src/store/types.ts';
import { STORE_ADAPTERS, useStore } from '../helpers/stores.ts';

const uid = (p: string) => `${p}-${randomBytes(5).toString('hex')}`;
const refused = (r: CreditResult) => (r.ok ? undefined : r.reason);

for (const [name, make] of STORE_ADAPTERS) {
  describe(`credit holds: ${name}`, () => {
    let store: Store;
    let db: PgStore; // to read the ledger directly
    useStore(make, (s, d) => { store = s; db = d; });

    async function ledgerSums(user: string) {
      const r = await db.query<{ a: string; r: string; c: string }>(
        `SELECT coalesce(sum(available_delta),0) AS a, coalesce(sum(reserved_delta),0) AS r,
                coalesce(sum(CASE kind WHEN 'charge' THEN amount ELSE 0 END),0) AS c FROM credit_ledger WHERE user_id = $1`, [user]);
      return { available: Number(r.rows[0]!.a), reserved: Number(r.rows[0]!.r), charged: Number(r.rows[0]!.c) };
    }
    async function funded(credits: number, reserve: number) {
      const user = uid('hold');
      const run = newRunId();
      await store.grant(user, credits, `g:${run}`);
      assert.equal((await store.reserve(user, run, reserve, `reserve:${run}`)).ok, true);
      return { user, run };
    }

    it('a hold is settled to the actual cost; the rest returns to the run; only the charge is a ledger row', async () => {
      const { user, run } = await funded(100, 20);
      const h = await store.hold(run, 0, 7, 0, `hold:${run}:0`);
      assert.equal(h.ok && h.run_held, 7);
      const s = await store.settleHold(`hold:${run}:0`, 2, 0, `charge:${run}:0`);
      assert.deepEqual(s.ok && [s.charged, s.capped, s.run_charged], [2, false, 2]);
      const res = await db.query<{ held: string; charged: string }>('SELECT held, charged FROM credit_reservations WHERE run_id = $1', [run]);
      assert.deepEqual(res.rows.map((r) => [Number(r.held), Number(r.charged)]), [[0, 2]]);
      await store.release(run, `release:${run}`);
      assert.deepEqual(await store.balance(user), { available: 98, reserved: 0 });
      const l = await ledgerSums(user);
      assert.deepEqual([l.available, l.reserved, l.charged], [98, 0, 2]);
    });

    it('holds count against the run\'s budget: one that does not fit is refused with what is left; replays change nothing', async () => {
      const { run } = await funded(100, 10);
      assert.equal((await store.hold(run, 0, 7, 0, `hold:${run}:0`)).ok, true);
      const second = await store.hold(run, 1, 7, 0, `hold:${run}:1`);
      assert.equal(refused(second), 'budget_exhausted');
      assert.match(!second.ok ? second.message : '', /7 credit\(s\) needed up front, the run has 3 left/);
      assert.deepEqual(!second.ok && [second.run_reserved, second.run_charged, second.run_held], [10, 0, 7]);
      assert.equal((await store.hold(run, 0, 7, 0, `hold:${run}:0`)).ok, true, 'replayed hold');
      assert.equal(refused(await store.charge(run, null, 4, 0, `charge:${run}:x`)), 'budget_exhausted', 'an unheld charge cannot take held credits');
      await store.settleHold(`hold:${run}:0`, 3, 0, `charge:${run}:0`);
      const again = await store.settleHold(`hold:${run}:0`, 7, 0, `charge:${run}:0b`);
      assert.deepEqual(again.ok && [again.replayed, again.charged], [true, 3], 'a settled hold is settled once');
    });

    it('a charge asked above its hold is cut to the hold: a run never pays more than it held', async () => {
      const { user, run } = await funded(100, 10);
      await store.hold(run, 0, 4, 0, `hold:${run}:0`);
      const s = await store.settleHold(`hold:${run}:0`, 9, 0, `charge:${run}:0`);
      assert.deepEqual(s.ok && [s.charged, s.capped], [4, true]);
      const note = await db.query<{ note: string }>('SELECT note FROM credit_ledger WHERE idempotency_key = $1', [`charge:${run}:0`]);
      assert.equal(note.rows[0]!.note, 'capped at the hold of 4 (asked 9)');
      await store.settle(run, `settle:${run}`);
      assert.deepEqual(await store.balance(user), { available: 96, reserved: 0 });
    });

    it('closing a reservation with a hold open drops the hold and returns everything not charged', async () => {
      const { user, run } = await funded(50, 20);
      await store.hold(run, 0, 15, 0, `hold:${run}:0`);
      await store.release(run, `release:${run}`);
      const h = await db.query<{ status: string }>('SELECT status FROM credit_holds WHERE run_id = $1', [run]);
      assert.deepEqual(h.rows.map((r) => r.status), ['released']);
      assert.deepEqual(await store.balance(user), { available: 50, reserved: 0 });
      assert.equal(refused(await store.hold(run, 1, 1, 0, `hold:${run}:1`)), 'reservation_closed');
    });

    it('30 concurrent holds of 3 runs against a monthly limit of 25: what is held and charged never passes it', async () => {
      const user = uid('month');
      await store.grant(user, 1000, `g:${user}`);
      await store.setLimits(user, { dailyTokenLimit: null, monthlyCostLimit: 25 });
      const runs = [newRunId(), newRunId(), newRunId()];
      for (const run of runs) assert.equal((await store.reserve(user, run, 100, `reserve:${run}`)).ok, true);
      const holds = await Promise.all(Array.from({ length: 30 }, (_, i) => store.hold(runs[i % 3]!, i, 3, 0, `hold:${user}:${i}`)));
      const ok = holds.map((h, i) => (h.ok ? i : -1)).filter((i) => i >= 0);
      assert.equal(ok.length, 8, '8 × 3 = 24 fits under 25, a ninth does not');
      for (const h of holds) if (!h.ok) assert.equal(h.reason, 'budget_exceeded');
      const refusal = holds.find((h): h is Extract<CreditResult, { ok: false }> => !h.ok)!;
      assert.match(refusal.message,
        /holding 3 credit\(s\) would pass the monthly cost limit of 25 credits \(0 spent, 24 held this month\)/);
      await Promise.all(ok.map((i) => store.settleHold(`hold:${user}:${i}`, 3, 0, `charge:${user}:${i}`)));
      assert.equal(refused(await store.charge(runs[0]!, null, 2, 0, `charge:${user}:extra`)), 'budget_exceeded', 'credit_charge enforces the month too');
      assert.equal((await store.charge(runs[0]!, null, 1, 0, `charge:${user}:last`)).ok, true, '25 is the limit, not 24');
      const ext = await store.extend(runs[1]!, 1, `extend:${user}`);
      assert.equal(refused(ext), 'budget_exceeded', 'credit_extend enforces the month too');
      assert.match(!ext.ok ? ext.message : '', /extending the run by 1 credit\(s\) would pass the monthly cost limit of 25/);
      for (const run of runs) await store.settle(run, `settle:${run}`);
      const l = await ledgerSums(user);
      assert.equal(l.charged, 25);
      assert.deepEqual({ available: l.available, reserved: l.reserved }, await store.balance(user));
      assert.deepEqual(await store.balance(user), { available: 975, reserved: 0 });
    });

    it('a paid step in two calls: the hold with its running row, then its last row with the charge; replays change nothing', async () => {
      const { user, run } = await funded(100, 10);
      await store.createRun({ id: run, userId: user, prompt: 'write a.txt' });
      const row = { runId: run, index: 0, userId: user, tool: 'write_file', input: { path: 'a.txt' }, attempt: 1 };
      const stepRow = async () => (await db.query<{ status: string; credits: string; attempts: number; output_summary: string | null }>(
        'SELECT status, credits, attempts, output_summary FROM agent_steps WHERE run_id = $1 AND step_index = 0', [run])).rows[0];
      // A hold that does not fit: refused, and no row says the step runs.
      const over = await store.stepBegin(row, { amount: 11, tokens: 0, key: `hold:${run}:0x` });
      assert.equal(refused(over), 'budget_exhausted');
      assert.equal(await stepRow(), undefined);
      const begun = await store.stepBegin(row, { amount: 6, tokens: 0, key: `hold:${run}:0` });
      assert.equal(begun.ok && begun.run_held, 6);
      assert.equal((await stepRow())?.status, 'running');
      const settle = { holdKey: `hold:${run}:0`, amount: 4, tokens: 0, chargeKey: `charge:${run}:0` };
      const done = await store.stepFinish({ ...row, status: 'completed', outputSummary: 'wrote a.txt', durationMs: 3 }, settle);
      assert.equal(done.ok && done.charged, 4);
      assert.deepEqual({ ...(await stepRow()) }, { status: 'completed', credits: '4', attempts: 1, output_summary: 'wrote a.txt' });
      // A retried attempt: its hold is replayed, the finished row stays finished, nothing is charged twice.
      const again = await store.stepBegin({ ...row, attempt: 2 }, { amount: 6, tokens: 0, key: `hold:${run}:0` });
      assert.equal(again.ok && again.replayed, true);
      assert.equal((await stepRow())?.status, 'completed');
      const twice = await store.stepFinish({ ...row, attempt: 2, status: 'completed', outputSummary: 'wrote a.txt', durationMs: 3 }, settle);
      assert.equal(twice.ok && twice.replayed, true);
      assert.equal((await ledgerSums(user)).charged, 4);
      assert.deepEqual(await store.balance(user), { available: 90, reserved: 6 });
    });

    it('a step cannot be finished as running', async () => {
      const { user, run } = await funded(10, 5);
      await store.createRun({ id: run, userId: user, prompt: 'write a.txt' });
      const row = { runId: run, index: 0, userId: user, tool: 'write_file', input: {}, attempt: 1 };
      await store.stepBegin(row, { amount: 1, tokens: 0, key: `hold:${run}:0` });
      const asRunning = { ...row, status: 'running' } as unknown as Parameters<Store['stepFinish']>[0];
      await assert.rejects(store.stepFinish(asRunning, { holdKey: `hold:${run}:0`, amount: 0, tokens: 0, chargeKey: `charge:${run}:0` }), /status must be completed or failed/);
    });

    it('the limits\' counts follow the ledger and the holds: the month\'s spend, today\'s tokens and open holds read as summed from the rows, at every step', async () => {
      const user = uid('counts');
      const [a, b] = [newRunId(), newRunId()];
      await store.grant(user, 100, `g:${a}`);
      await store.setLimits(user, { dailyTokenLimit: 1_000_000, monthlyCostLimit: 1000 });
      const check = async (when: string) => {
        const r = await db.query<{ counted: string; summed: string }>(
          `SELECT json_build_array(agentrun_month_spent($1), agentrun_day_tokens($1), agentrun_open_holds($1))::text AS counted,
                  json_build_array(
                    (SELECT coalesce(sum(CASE kind WHEN 'charge' THEN amount WHEN 'refund' THEN -amount ELSE 0 END), 0) FROM credit_ledger
                      WHERE user_id = $1 AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'),
                    (SELECT coalesce(sum(tokens), 0) FROM credit_ledger
                      WHERE user_id = $1 AND kind = 'charge' AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'),
                    (SELECT coalesce(sum(amount), 0) FROM credit_holds WHERE user_id = $1 AND status = 'held'))::text AS summed`, [user]);
        assert.equal(r.rows[0]!.counted, r.rows[0]!.summed, when);
        return JSON.parse(r.rows[0]!.counted) as number[];
      };
      assert.deepEqual(await check('before anything'), [0, 0, 0]);
      await store.reserve(user, a, 40, `reserve:${a}`);
      await store.reserve(user, b, 40, `reserve:${b}`);
      await store.hold(a, null, 10, 5000, `hold:${a}:llm:0`);
      await store.hold(a, 0, 6, 0, `hold:${a}:0`);
      await store.hold(b, 0, 7, 0, `hold:${b}:0`);
      assert.deepEqual(await check('three holds open'), [0, 0, 23]);
      await store.settleHold(`hold:${a}:llm:0`, 3, 1200, `charge:${a}:llm:0`);
      await store.settleHold(`hold:${a}:0`, 9, 0, `charge:${a}:0`); // cut to its hold: 6
      await store.settleHold(`hold:${a}:0`, 9, 0, `charge:${a}:0`); // replayed: nothing more
      assert.deepEqual(await check('two settled'), [9, 1200, 7]);
      await store.charge(a, null, 2, 300, `charge:${a}:llm:1`);
      await store.settle(a, `settle:${a}`);
      await store.refund(a, 4, `refund:${a}`, 'a bad step');
      assert.deepEqual(await check('charged, settled and refunded'), [7, 1500, 7]);
      await store.release(b, `release:${b}`);
      assert.deepEqual(await check('the open hold released with its run'), [7, 1500, 0]);
    });

    it('an LLM call\'s hold is refused once the daily token limit is reached; its settled tokens are recorded', async () => {
      const user = uid('tokens');
      const run = newRunId();
      await store.grant(user, 100, `g:${run}`);
      await store.setLimits(user, { dailyTokenLimit: 1000, monthlyCostLimit: null });
      await store.reserve(user, run, 100, `reserve:${run}`);
      assert.equal((await store.hold(run, null, 30, 29_000, `hold:${run}:llm:0`)).ok, true);
      await store.settleHold(`hold:${run}:llm:0`, 2, 1200, `charge:${run}:llm:0`);
      const next = await store.hold(run, null, 30, 29_000, `hold:${run}:llm:1`);
      assert.equal(refused(next), 'budget_exceeded');
      assert.match(!next.ok ? next.message : '', /daily token limit of 1000 reached \(1200 used today\)/);
      assert.equal((await store.hold(run, 0, 1, 0, `hold:${run}:0`)).ok, true, 'a tool step uses no tokens');
    });
  });
}
