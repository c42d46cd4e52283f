/**
 * One contract, two adapters: Postgres through pg, and Supabase through
 * supabase-js → nginx /rest/v1 → the real PostgREST → the same Postgres.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { newRunId } from '../../src/runs/ids.ts';
import type { PgStore } from '../../src/store/pg.ts';
import type { Store } from '../../src/store/types.ts';
import { STORE_ADAPTERS, useStore } from '../helpers/stores.ts';

const uid = (p: string) => `${p}-${randomBytes(5).toString('hex')}`;

for (const [name, make] of STORE_ADAPTERS) {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    let db: PgStore; // to read the ledger directly
    useStore(make, (s, d) => { store = s; db = d; });

    async function ledgerSums(user: string) {
      const r = await db.query<{ a: string; r: string }>(
        'SELECT coalesce(sum(available_delta),0) AS a, coalesce(sum(reserved_delta),0) AS r FROM credit_ledger WHERE user_id = $1', [user]);
      return { available: Number(r.rows[0]!.a), reserved: Number(r.rows[0]!.r) };
    }

    it('passes the schema check', async () => {
      const info = await store.schemaInfo();
      assert.ok(info.columns.credit_balances?.includes('available_credits'));
      assert.ok(info.functions.includes('credit_reserve'));
      assert.ok(info.migration);
    });

    it('100 concurrent reservations against a balance for exactly 10: 10 succeed, none overdraws, the ledger sums to the balance', async () => {
      const user = uid('race');
      await store.grant(user, 100, `g:${user}`);
      const results = await Promise.all(Array.from({ length: 100 }, () => {
        const run = newRunId();
        return store.reserve(user, run, 10, `reserve:${run}`);
      }));
      const ok = results.filter((r) => r.ok);
      assert.equal(ok.length, 10);
      for (const r of results) {
        assert.ok(r.available >= 0);
        if (!r.ok) assert.equal(r.reason, 'insufficient_credits');
      }
      const bal = await store.balance(user);
      assert.deepEqual(bal, { available: 0, reserved: 100 });
      assert.deepEqual(await ledgerSums(user), bal);
    });

    it('replaying every operation with its idempotency key changes nothing', async () => {
      const user = uid('replay');
      const run = newRunId();
      await store.createRun({ id: run, userId: user, prompt: 'p' });
      await store.recordStep({ runId: run, index: 0, userId: user, tool: 'shell', input: {}, status: 'running', attempt: 1 });
      const ops: [string, () => ReturnType<Store['grant']>][] = [
        ['grant', () => store.grant(user, 50, `g:${run}`)],
        ['reserve', () => store.reserve(user, run, 20, `reserve:${run}`)],
        ['charge', () => store.charge(run, 0, 7, 100, `charge:${run}:0`)],
        ['refund', () => store.refund(run, 2, `refund:${run}`)],
        ['settle', () => store.settle(run, `settle:${run}`)],
      ];
      for (const [op, call] of ops) {
        const first = await call();
        assert.equal(first.ok, true, `${op}: ${JSON.stringify(first)}`);
        const before = await store.balance(user);
        const ledgerBefore = await ledgerSums(user);
        const again = await call();
        assert.equal(again.ok, true);
        assert.equal((again as { replayed: boolean }).replayed, true, `${op} replay is marked`);
        assert.deepEqual(await store.balance(user), before, `${op} replay left the balance alone`);
        assert.deepEqual(await ledgerSums(user), ledgerBefore, `${op} replay added no ledger row`);
      }
      // 50 granted, 7 charged, 2 refunded, the rest of the reservation returned.
      assert.deepEqual(await store.balance(user), { available: 45, reserved: 0 });
      assert.deepEqual(await ledgerSums(user), { available: 45, reserved: 0 });
      const rec = await store.getRun(run);
      assert.equal(Number(rec!.credits_charged), 7);
    });

    it('a settle retried after the first already ran (or a release after a settle) is charged once', async () => {
      const user = uid('settle');
      const run = newRunId();
      await store.grant(user, 30, `g:${run}`);
      await store.reserve(user, run, 30, `reserve:${run}`);
      await store.charge(run, null, 10, 0, `charge:${run}:x`);
      const results = await Promise.all([store.settle(run, `settle:${run}`), store.settle(run, `settle:${run}`), store.release(run, `release:${run}`)]);
      assert.equal(results.filter((r) => r.ok && !r.replayed).length, 1);
      assert.deepEqual(await store.balance(user), { available: 20, reserved: 0 });
      const rows = await db.query('SELECT kind FROM credit_ledger WHERE run_id = $1 ORDER BY id', [run]);
      assert.deepEqual(rows.rows.map((r) => (r as { kind: string }).kind), ['reserve', 'charge', 'release']);
    });

    it('opens a run in one call (reserved, then its status recorded; refused, nothing recorded) and closes it in one (settled or released, then its last status); replays change nothing', async () => {
      const user = uid('open');
      const [a, b, poor] = [newRunId(), newRunId(), newRunId()];
      await store.grant(user, 50, `g:${a}`);
      for (const id of [a, b, poor]) await store.createRun({ id, userId: user, prompt: 'p' });
      const status = async (id: string) => (await store.getRun(id))?.status;
      assert.equal((await store.openRun(user, a, 20, `reserve:${a}`, 'planning')).ok, true);
      const reopened = await store.openRun(user, a, 20, `reserve:${a}`, 'planning');
      assert.equal(reopened.ok && reopened.replayed, true);
      assert.equal(await status(a), 'planning');
      const refused = await store.openRun(user, poor, 500, `reserve:${poor}`, 'planning');
      assert.equal(!refused.ok && refused.reason, 'insufficient_credits');
      assert.equal(await status(poor), 'queued', 'a refused reservation records no status');
      await store.charge(a, null, 5, 0, `charge:${a}:x`);
      assert.equal((await store.closeRun(a, 'settle', `settle:${a}`, 'completed', { result_summary: 'done' })).ok, true);
      const reclosed = await store.closeRun(a, 'settle', `settle:${a}`, 'completed', { result_summary: 'done' });
      assert.equal(reclosed.ok && reclosed.replayed, true);
      assert.deepEqual([await status(a), (await store.getRun(a))?.result_summary], ['completed', 'done']);
      assert.equal((await store.openRun(user, b, 20, `reserve:${b}`, 'planning')).ok, true);
      assert.equal((await store.closeRun(b, 'release', `release:${b}`, 'failed', { error: { code: 'x', message: 'y' } })).ok, true);
      assert.equal(await status(b), 'failed');
      assert.equal((await store.closeRun(poor, 'none', '', 'failed')).ok, true, 'a run that never reserved closes without credits');
      assert.equal(await status(poor), 'failed');
      assert.deepEqual(await store.balance(user), { available: 45, reserved: 0 });
      assert.deepEqual(await ledgerSums(user), { available: 45, reserved: 0 });
      await assert.rejects(store.closeRun(a, 'refund' as 'none', '', 'failed'), /credits must be settle, release or none/);
    });

    it('refuses with typed results, never an exception: insufficient, exhausted, closed, missing, invalid', async () => {
      const user = uid('refuse');
      const run = newRunId();
      const none = await store.reserve(user, run, 5, `reserve:${run}`);
      assert.equal(none.ok, false);
      assert.equal(!none.ok && none.reason, 'insufficient_credits');
      await store.grant(user, 10, `g:${run}`);
      assert.equal((await store.reserve(user, run, 10, `reserve:${run}:2`)).ok, true);
      const over = await store.charge(run, 0, 11, 0, `c:${run}:0`);
      assert.equal(!over.ok && over.reason, 'budget_exhausted');
      assert.equal((await store.charge(run, 0, 10, 0, `c:${run}:1`)).ok, true);
      await store.release(run, `release:${run}`);
      const closed = await store.charge(run, 1, 1, 0, `c:${run}:2`);
      assert.equal(!closed.ok && closed.reason, 'reservation_closed');
      const missing = await store.charge(newRunId(), 0, 1, 0, `c:${run}:3`);
      assert.equal(!missing.ok && missing.reason, 'no_reservation');
      const bad = await store.grant(user, -5, `g:${run}:neg`);
      assert.equal(!bad.ok && bad.reason, 'invalid_amount');
      assert.deepEqual(await store.balance(user), { available: 0, reserved: 0 });
    });

    it('enforces the daily token and monthly cost limits', async () => {
      const user = uid('limits');
      await store.grant(user, 1000, `g:${user}`);
      await store.setLimits(user, { dailyTokenLimit: 1000, monthlyCostLimit: 50 });
      const run = newRunId();
      assert.equal((await store.reserve(user, run, 100, `reserve:${run}`)).ok, true);
      assert.equal((await store.charge(run, 0, 10, 900, `c:${run}:0`)).ok, true);
      const tokens = await store.charge(run, 1, 10, 200, `c:${run}:1`);
      assert.equal(!tokens.ok && tokens.reason, 'budget_exceeded');
      assert.match(!tokens.ok ? tokens.message : '', /daily token limit of 1000/);
      assert.equal((await store.charge(run, 1, 40, 0, `c:${run}:2`)).ok, true); // 50 spent this month
      await store.settle(run, `settle:${run}`);
      const run2 = newRunId();
      const month = await store.reserve(user, run2, 10, `reserve:${run2}`);
      assert.equal(!month.ok && month.reason, 'budget_exceeded');
      assert.match(!month.ok ? month.message : '', /monthly cost limit of 50/);
    });

    it('keeps one step row per (run, index) however often it is recorded, and never un-finishes it', async () => {
      const user = uid('steps');
      const run = newRunId();
      await store.createRun({ id: run, userId: user, prompt: 'p' });
      assert.deepEqual(await store.createRun({ id: run, userId: user, prompt: 'p' }), { ok: true, created: false });
      await store.recordStep({ runId: run, index: 0, userId: user, tool: 'shell', input: { argv: ['x'] }, status: 'running', attempt: 1 });
      await store.recordStep({ runId: run, index: 0, userId: user, tool: 'shell', input: { argv: ['x'] }, status: 'running', attempt: 2 });
      await store.recordStep({ runId: run, index: 0, userId: user, tool: 'shell', input: { argv: ['x'] }, status: 'completed', attempt: 2, outputSummary: 'ok', durationMs: 5 });
      await store.recordStep({ runId: run, index: 0, userId: user, tool: 'shell', input: { argv: ['x'] }, status: 'running', attempt: 1 });
      const rows = await db.query<{ status: string; attempts: number; output_summary: string }>('SELECT status, attempts, output_summary FROM agent_steps WHERE run_id = $1', [run]);
      assert.deepEqual(rows.rows, [{ status: 'completed', attempts: 2, output_summary: 'ok' }]);
      await store.updateRun(run, 'completed');
      await store.updateRun(run, 'running');
      assert.equal((await store.getRun(run))!.status, 'completed', 'a terminal run never changes status again');
    });

    it('keeps a step\'s result record with its end, per reset epoch; the first of a key stays; a running step has none', async () => {
      const user = uid('results');
      const run = newRunId();
      await store.createRun({ id: run, userId: user, prompt: 'p' });
      const row = { runId: run, index: 0, userId: user, tool: 'write_file', input: {}, attempt: 1 } as const;
      const first = { index: 0, tool: 'write_file', ok: true, summary: 'wrote a.txt', durationMs: 3, outputTail: 'tail', changes: { id: run, files: { 'a.txt': 'v1' }, deleted: [] } };
      assert.equal(await store.stepResult(run, 0), undefined);
      await store.recordStep({ ...row, status: 'running' });
      await store.recordStep({ ...row, status: 'completed', outputSummary: 'wrote a.txt', durationMs: 3, result: { json: JSON.stringify(first) } });
      assert.deepEqual(await store.stepResult(run, 0), first);
      await store.recordStep({ ...row, status: 'completed', attempt: 2, result: { json: JSON.stringify({ ...first, summary: 'a replay' }) } });
      assert.deepEqual(await store.stepResult(run, 0), first, 'a replayed end never rewrites the record');
      // A reset execution (epoch e1) runs the step again: its record is its own; the first execution's stays.
      const reset = { ...first, summary: 'wrote a.txt again', changes: { id: run, files: { 'a.txt': 'v2' }, deleted: [] } };
      await store.recordStep({ ...row, status: 'completed', attempt: 1, result: { epoch: 'e1', json: JSON.stringify(reset) } });
      assert.deepEqual(await store.stepResult(run, 0, 'e1'), reset);
      assert.deepEqual(await store.stepResult(run, 0), first);
      assert.equal(await store.stepResult(run, 0, 'e2'), undefined);
      // A paid step's end keeps its record in the same call as its settlement.
      await store.grant(user, 10, `g:${run}`);
      await store.reserve(user, run, 5, `r:${run}`);
      const paidRow = { ...row, index: 1, tool: 'shell' };
      assert.equal((await store.stepBegin(paidRow, { amount: 2, tokens: 0, key: `h:${run}:1` })).ok, true);
      const paid = { index: 1, tool: 'shell', ok: false, summary: 'exit 1', durationMs: 9, exitCode: 1 };
      assert.equal((await store.stepFinish({ ...paidRow, status: 'failed', result: { json: JSON.stringify(paid) } }, { holdKey: `h:${run}:1`, amount: 1, tokens: 0, chargeKey: `c:${run}:1` })).ok, true);
      assert.deepEqual(await store.stepResult(run, 1), paid);
      await assert.rejects(store.recordStep({ ...row, index: 2, status: 'running', result: { json: JSON.stringify(first) } }), /a running step has no result record yet/);
      // Whatever a tool printed, exactly: a NUL and an unpaired surrogate (a tail cut inside a pair) included.
      const odd = { index: 3, tool: 'shell', ok: true, summary: 'odd', durationMs: 1, outputTail: 'a\u0000b \udc00 \ud83d\ude00 "\\' };
      await store.recordStep({ ...row, index: 3, status: 'completed', result: { json: JSON.stringify(odd) } });
      assert.deepEqual(await store.stepResult(run, 3), odd);
    });

    it('keeps display copies of what models and tools wrote even when they hold what PostgreSQL refuses (NUL, unpaired surrogates)', async () => {
      const user = uid('odd');
      const run = newRunId();
      await store.createRun({ id: run, userId: user, prompt: 'p' });
      const odd = 'a\u0000b \udc00 \ud83d\ude00';
      const shown = 'a\ufffdb \ufffd \ud83d\ude00';
      await store.updateRun(run, 'running', { plan: { summary: odd, steps: [{ tool: 'write_file', path: 'a.txt', content: odd }] } });
      await store.recordStep({ runId: run, index: 0, userId: user, tool: 'shell', input: { argv: [odd], [odd]: 1 }, status: 'running', attempt: 1 });
      await store.recordStep({ runId: run, index: 0, userId: user, tool: 'shell', input: {}, status: 'failed', attempt: 1, outputSummary: `exit 1: ${odd}` });
      await store.updateRun(run, 'failed', { error: { code: 'ToolFailed', message: odd }, result_summary: odd });
      await store.recordAudit({ runId: run, userId: user, actor: user, actorKind: 'jwt', action: 'approve', detail: { comment: odd } });
      const got = (await store.getRun(run))!;
      assert.deepEqual(got.plan, { summary: shown, steps: [{ tool: 'write_file', path: 'a.txt', content: shown }] });
      assert.deepEqual([got.error, got.result_summary], [{ code: 'ToolFailed', message: shown }, shown]);
      const step = await db.query<{ input: unknown; output_summary: string }>('SELECT input, output_summary FROM agent_steps WHERE run_id = $1', [run]);
      assert.deepEqual(step.rows, [{ input: { argv: [shown], [shown]: 1 }, output_summary: `exit 1: ${shown}` }]);
      assert.deepEqual((await store.listAudit(run)).map((a) => a.detail), [{ comment: shown }]);
    });

    it('records audit rows in order, once per source key, and finds stale queued records to repair', async () => {
      const user = uid('audit');
      const run = newRunId();
      await store.createRun({ id: run, userId: user, prompt: 'p', status: 'queued' });
      const a = await store.recordAudit({ runId: run, userId: user, actor: user, actorKind: 'jwt', action: 'pause', detail: { why: 'lunch' } });
      const b = await store.recordAudit({ runId: run, userId: user, actor: 'temporal-direct', actorKind: 'temporal', action: 'approve', sourceKey: `${run}:wf:7` });
      const again = await store.recordAudit({ runId: run, userId: user, actor: 'temporal-direct', actorKind: 'temporal', action: 'approve', sourceKey: `${run}:wf:7` });
      assert.equal(again.id, b.id);
      assert.ok(a.id < b.id);
      const rows = await store.listAudit(run);
      assert.deepEqual(rows.map((r) => [r.action, r.actor, r.actor_kind, r.detail]), [['pause', user, 'jwt', { why: 'lunch' }], ['approve', 'temporal-direct', 'temporal', {}]]);
      // Two minutes old: stale for a 60 s grace, not yet for the 300 s default of APIs running meanwhile.
      await db.query(`UPDATE agent_runs SET updated_at = now() - interval '2 minutes' WHERE id = $1`, [run]);
      assert.ok((await store.listStaleQueued(60, 10_000)).some((r) => r.id === run));
      assert.equal(await store.failStaleQueued(run, 3600, { code: 'x', message: 'too young to fail' }), false);
      assert.equal(await store.failStaleQueued(run, 60, { code: 'start_interrupted', message: 'm' }), true);
      assert.equal(await store.failStaleQueued(run, 60, { code: 'start_interrupted', message: 'm' }), false);
      assert.equal((await store.getRun(run))!.status, 'failed');
    });

    it('admits runs up to the active limit, exactly, under 20 concurrent admissions; ended runs free a place', async () => {
      const user = uid('admit');
      const ids = Array.from({ length: 20 }, (_, i) => newRunId(Date.now() + i));
      const results = await Promise.all(ids.map((id) => store.admitRun({ id, userId: user, prompt: 'p', priority: 3 }, 3)));
      const admitted = ids.filter((_, i) => results[i]!.ok);
      assert.equal(admitted.length, 3);
      for (const r of results) if (!r.ok) assert.equal(r.reason, 'too_many_active_runs');
      await store.updateRun(admitted[0]!, 'completed');
      const next = newRunId();
      assert.deepEqual(await store.admitRun({ id: next, userId: user, prompt: 'p' }, 3), { ok: true, created: true, status: 'queued' });
      // Replayed admission of an admitted run: no second record, no refusal.
      assert.deepEqual(await store.admitRun({ id: next, userId: user, prompt: 'p' }, 3), { ok: true, created: false, status: 'queued' });
    });

    it('admits a created record of the same user (create, then start), never another user\'s', async () => {
      const user = uid('created');
      const id = newRunId();
      await store.createRun({ id, userId: user, prompt: 'p', status: 'created' });
      const other = await store.admitRun({ id, userId: uid('intruder'), prompt: 'x' }, 5);
      assert.equal(!other.ok && other.reason, 'not_found');
      assert.deepEqual(await store.admitRun({ id, userId: user, prompt: 'p' }, 5), { ok: true, created: false, status: 'queued' });
      assert.equal((await store.getRun(id))!.status, 'queued');
    });

    it('lists a user\'s runs newest first, by pages, filtered by status, and nobody else\'s', async () => {
      const user = uid('list');
      const t0 = Date.now() - 60_000;
      const ids = Array.from({ length: 7 }, (_, i) => newRunId(t0 + i * 1000));
      for (const id of ids) await store.createRun({ id, userId: user, prompt: `prompt ${id}` });
      await store.createRun({ id: newRunId(t0 + 500), userId: uid('someone-else'), prompt: 'p' });
      await store.updateRun(ids[1]!, 'failed');
      await store.updateRun(ids[4]!, 'failed');
      const newestFirst = [...ids].reverse();
      const page1 = await store.listRuns(user, { limit: 3 });
      assert.deepEqual(page1.map((r) => r.id), newestFirst.slice(0, 3));
      const page2 = await store.listRuns(user, { limit: 3, before: page1.at(-1)!.id });
      assert.deepEqual(page2.map((r) => r.id), newestFirst.slice(3, 6));
      const page3 = await store.listRuns(user, { limit: 3, before: page2.at(-1)!.id });
      assert.deepEqual(page3.map((r) => r.id), newestFirst.slice(6));
      const failed = await store.listRuns(user, { limit: 10, statuses: ['failed'] });
      assert.deepEqual(failed.map((r) => r.id), [ids[4], ids[1]]);
      assert.equal(failed[0]!.user_id, user);
      assert.equal(Number(failed[0]!.credits_charged), 0);
      assert.ok(!Number.isNaN(new Date(failed[0]!.created_at).getTime()));
      assert.deepEqual(await store.listRuns(user, { limit: 10, statuses: ['paused', 'running'] }), []);
    });

    it('the ledger is append-only', async () => {
      await assert.rejects(db.query("UPDATE credit_ledger SET amount = 0 WHERE kind = 'grant'"), /append-only/);
      await assert.rejects(db.query('DELETE FROM credit_ledger'), /append-only/);
    });
  });
}
