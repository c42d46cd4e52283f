/**
 * Accounts in the store, one contract for both adapters (pg; supabase-js through the real
 * PostgREST): first sight with NEW_USER_CREDITS once, the account with limits resolved
 * against the defaults the store was built with (and enforced by reserve and hold with
 * them), operators' adjustments once per key with the operator on the ledger row, the
 * ledger in pages, and clearing a user's own limits.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { newRunId } from '../../src/runs/ids.ts';
import { PgStore } from '../../src/store/pg.ts';
import { SupabaseStore } from '../../src/store/supabase.ts';
import type { Store } from '../../src/store/types.ts';
import { useStore } from '../helpers/stores.ts';
import { stackEnv } from '../helpers/stack.ts';

const env = stackEnv();
const uid = (p: string) => `${p}-${randomBytes(5).toString('hex')}`;
const DEFAULTS = { dailyTokenLimit: 1000, monthlyCostLimit: 50 };
const ADAPTERS: [string, () => Store][] = [
  ['postgres (pg)', () => new PgStore({ databaseUrl: env.DATABASE_URL!, limitDefaults: DEFAULTS })],
  ['supabase (supabase-js via PostgREST)', () => new SupabaseStore({ url: env.SUPABASE_URL!, serviceRoleKey: env.SUPABASE_SERVICE_ROLE_KEY!, limitDefaults: DEFAULTS })],
];

for (const [name, make] of ADAPTERS) {
  describe(`store accounts: ${name}`, () => {
    let store: Store;
    let db: PgStore;
    useStore(make, (s, d) => { store = s; db = d; });

    it('welcome makes a user known and grants the new-user credits once, however often and concurrently it is called', async () => {
      const user = uid('new');
      assert.equal((await store.account(user)).known, false);
      const results = await Promise.all(Array.from({ length: 5 }, () => store.welcome(user, 25)));
      assert.equal(results.filter((r) => r.granted).length, 1);
      assert.equal((await store.welcome(user, 25)).granted, false);
      const account = await store.account(user);
      assert.equal(account.known, true);
      assert.equal(account.available, 25);
      const zero = uid('zero');
      assert.deepEqual(await store.welcome(zero, 0), { ok: true, granted: false } as never);
      assert.equal((await store.account(zero)).known, true, 'known without credits when NEW_USER_CREDITS is 0');
    });

    it('an account resolves limits: the defaults for a user without a row, the user\'s own row (nulls meaning none) once set, the defaults again once cleared', async () => {
      const user = uid('limits');
      await store.welcome(user, 100);
      let a = await store.account(user);
      assert.deepEqual([a.limits_source, a.daily_token_limit, a.monthly_cost_limit], ['default', 1000, 50]);
      await store.setLimits(user, { dailyTokenLimit: null, monthlyCostLimit: 500 });
      a = await store.account(user);
      assert.deepEqual([a.limits_source, a.daily_token_limit, a.monthly_cost_limit], ['user', null, 500]);
      assert.equal(await store.clearLimits(user), true);
      assert.equal(await store.clearLimits(user), false);
      a = await store.account(user);
      assert.deepEqual([a.limits_source, a.daily_token_limit, a.monthly_cost_limit], ['default', 1000, 50]);
    });

    it('reserve and hold enforce the default monthly limit for users without their own, and a user\'s own limit instead of it', async () => {
      const user = uid('monthly');
      await store.welcome(user, 1000);
      const run = newRunId();
      assert.equal((await store.reserve(user, run, 100, `r:${run}`)).ok, true);
      const first = await store.hold(run, 0, 50, 0, `h:${run}:0`);
      assert.equal(first.ok, true);
      const refused = await store.hold(run, 1, 1, 0, `h:${run}:1`);
      assert.equal(refused.ok, false);
      assert.equal(!refused.ok && refused.reason, 'budget_exceeded');
      assert.match(!refused.ok ? refused.message : '', /monthly cost limit of 50 credits/);
      await store.setLimits(user, { dailyTokenLimit: null, monthlyCostLimit: null });
      assert.equal((await store.hold(run, 1, 1, 0, `h:${run}:1b`)).ok, true, 'the user\'s own row (no limit) replaces the default');
      const a = await store.account(user);
      assert.deepEqual([a.held, a.active_runs], [51, 0]);
    });

    it('an operator grants and deducts once per key, the ledger row naming the operator; a reused key for another request, an unknown user, a deduction past the balance and zero are refused', async () => {
      const user = uid('adjust');
      await store.welcome(user, 0);
      const grant = await store.adjust(user, 40, `op:ops:${user}:1`, 'support ticket 12', 'ops');
      assert.deepEqual([grant.ok, grant.ok && grant.replayed, grant.available], [true, false, 40]);
      const again = await store.adjust(user, 40, `op:ops:${user}:1`, 'support ticket 12', 'ops');
      assert.deepEqual([again.ok, again.ok && again.replayed, again.available], [true, true, 40]);
      const conflict = await store.adjust(user, 41, `op:ops:${user}:1`, 'support ticket 12', 'ops');
      assert.equal(!conflict.ok && conflict.reason, 'idempotency_conflict');
      const deduct = await store.adjust(user, -15, `op:ops:${user}:2`, 'refund reversal', 'ops');
      assert.equal(deduct.ok && deduct.available, 25);
      const tooMuch = await store.adjust(user, -26, `op:ops:${user}:3`, 'too much', 'ops');
      assert.equal(!tooMuch.ok && tooMuch.reason, 'insufficient_credits');
      assert.equal(!tooMuch.ok && tooMuch.available, 25);
      const zero = await store.adjust(user, 0, `op:ops:${user}:4`, 'nothing', 'ops');
      assert.equal(!zero.ok && zero.reason, 'invalid_amount');
      const unknown = await store.adjust(uid('nobody'), 5, `op:ops:${user}:5`, 'who?', 'ops');
      assert.equal(!unknown.ok && unknown.reason, 'unknown_user');
      const rows = await db.query<{ kind: string; amount: string; actor: string; note: string }>(
        'SELECT kind, amount, actor, note FROM credit_ledger WHERE user_id = $1 ORDER BY id', [user]);
      assert.deepEqual(rows.rows.map((r) => [r.kind, Number(r.amount), r.actor, r.note]), [['grant', 40, 'ops', 'support ticket 12'], ['deduct', 15, 'ops', 'refund reversal']]);
      const sums = await db.query<{ a: string }>('SELECT sum(available_delta) AS a FROM credit_ledger WHERE user_id = $1', [user]);
      assert.equal(Number(sums.rows[0]!.a), 25, 'the ledger sums to the balance');
    });

    it('the ledger comes in pages, newest first, each row with what moved and why', async () => {
      const user = uid('ledger');
      await store.welcome(user, 10);
      for (let i = 1; i <= 4; i += 1) await store.adjust(user, i, `op:ops:${user}:${i}`, `grant ${i}`, 'ops');
      const first = await store.ledger(user, undefined, 3);
      assert.deepEqual(first.map((e) => e.note), ['grant 4', 'grant 3', 'grant 2']);
      assert.equal(first[0]!.kind, 'grant');
      assert.equal(first[0]!.available_delta, 4);
      const rest = await store.ledger(user, first.at(-1)!.id, 3);
      assert.deepEqual(rest.map((e) => e.note), ['grant 1', 'new user credits']);
      assert.deepEqual(await store.ledger(uid('none'), undefined, 3), []);
    });
  });
}
