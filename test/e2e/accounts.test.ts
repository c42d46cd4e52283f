/**
 * Accounts over the real API (worker, API, Postgres): a new user's first call grants
 * NEW_USER_CREDITS once and GET /v1/me shows balance, limits with what is used and runs
 * going; operators grant, deduct, set and clear limits and read any user's ledger, each
 * refusal a JSON error naming the problem; non-operators get 403 on those routes; a
 * user's own monthly limit stops their next run and clearing it lets the next one run.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { mintToken } from '../helpers/auth.ts';
import { stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Proc } from '../helpers/stack.ts';

const OPERATOR = `ops-${randomBytes(4).toString('hex')}`;

/** The fields these tests read from the API's answers (accounts, ledger pages, runs, errors). */
interface Body {
  error: { code: string; message: string };
  id: string; status: string; usage: { credits: number };
  userId: string; amount: number; replayed: boolean;
  balance: { available: number; reserved: number };
  limits: { source: string; dailyTokens: { limit: number | null; used: number }; monthlyCost: { limit: number | null; spent: number; held: number } };
  runs: { active: number; allowed: number };
  entries: { kind: string; amount: number; available_delta: number; actor: string | null; note: string | null }[];
  nextBefore: number | null;
}

describe('accounts over the API', () => {
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let opsToken: string;
  const carol = `carol-${randomBytes(5).toString('hex')}`;
  let carolToken: string;

  const call = async (token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${api!.url}${path}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Body };
  };
  const grant = (amount: unknown, key: string | undefined, note: unknown) =>
    call(opsToken, 'POST', `/v1/users/${carol}/credits`, { amount, note }, key === undefined ? {} : { 'idempotency-key': key });
  const runToEnd = async (prompt: string) => {
    const started = await call(carolToken, 'POST', '/v1/runs', { prompt });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    return waitUntil('run ended', async () => {
      const r = await call(carolToken, 'GET', `/v1/runs/${started.body.id}`);
      return ['completed', 'failed', 'cancelled'].includes(r.body.status) ? r.body : undefined;
    }, 60_000);
  };

  before(async () => {
    const env = {
      ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('accounts'), AUTH_OPERATORS: OPERATOR, NEW_USER_CREDITS: '30',
      RUN_CREDIT_RESERVATION: '10', DAILY_TOKEN_LIMIT: '100000', MONTHLY_COST_LIMIT: '1000', API_MAX_ACTIVE_RUNS: '4',
    };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
    opsToken = await mintToken(OPERATOR);
    carolToken = await mintToken(carol);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
  });

  it('a user unknown to operators until their first call, which grants NEW_USER_CREDITS once; /v1/me shows balance, default limits and runs going', async () => {
    const before = await call(opsToken, 'GET', `/v1/users/${carol}`);
    assert.equal(before.status, 404);
    assert.equal(before.body.error.code, 'unknown_user');
    const me = await call(carolToken, 'GET', '/v1/me');
    assert.equal(me.status, 200);
    assert.deepEqual(me.body, {
      userId: carol, balance: { available: 30, reserved: 0 },
      limits: { source: 'default', dailyTokens: { limit: 100000, used: 0 }, monthlyCost: { limit: 1000, spent: 0, held: 0 } },
      runs: { active: 0, allowed: 4 }, breakers: [],
    });
    assert.equal((await call(carolToken, 'GET', '/v1/me')).body.balance.available, 30, 'granted once');
    const ledger = await call(carolToken, 'GET', '/v1/me/ledger');
    assert.deepEqual(ledger.body.entries.map((e) => [e.kind, e.amount, e.note]), [['grant', 30, 'new user credits']]);
    assert.equal(ledger.body.nextBefore, null);
  });

  it('a run is paid from the account: /v1/me and the ledger show it', async () => {
    const run = await runToEnd('write_file a.txt hello');
    assert.equal(run.status, 'completed');
    const me = (await call(carolToken, 'GET', '/v1/me')).body;
    assert.equal(me.balance.available, 30 - run.usage.credits);
    assert.equal(me.limits.monthlyCost.spent, run.usage.credits);
    assert.equal(me.runs.active, 0);
    const kinds = (await call(carolToken, 'GET', '/v1/me/ledger?limit=10')).body.entries.map((e) => e.kind);
    assert.deepEqual(kinds, ['release', 'charge', 'reserve', 'grant']);
    const page = await call(carolToken, 'GET', '/v1/me/ledger?limit=2');
    assert.equal(page.body.entries.length, 2);
    const rest = await call(carolToken, 'GET', `/v1/me/ledger?limit=2&before=${page.body.nextBefore}`);
    assert.deepEqual(rest.body.entries.map((e) => e.kind), ['reserve', 'grant']);
  });

  it('operator routes answer 403 to a user who is not an operator, even about themselves', async () => {
    for (const [method, path, body] of [['GET', `/v1/users/${carol}`], ['GET', `/v1/users/${carol}/ledger`], ['POST', `/v1/users/${carol}/credits`, { amount: 5, note: 'me' }],
      ['PUT', `/v1/users/${carol}/limits`, { dailyTokenLimit: null, monthlyCostLimit: null }], ['DELETE', `/v1/users/${carol}/limits`]] as const) {
      const r = await call(carolToken, method, path, body, { 'idempotency-key': 'k' });
      assert.equal(r.status, 403, `${method} ${path}`);
      assert.equal(r.body.error.code, 'forbidden');
    }
    assert.equal((await call(carolToken, 'GET', '/v1/me')).body.balance.available, 29, 'nothing moved');
  });

  it('an operator grants and deducts once per Idempotency-Key; the ledger names the operator and the note', async () => {
    const first = await grant(100, 'g-1', 'welcome bonus');
    assert.equal(first.status, 201);
    assert.deepEqual(first.body, { userId: carol, amount: 100, balance: { available: 129, reserved: 0 }, replayed: false });
    const replay = await grant(100, 'g-1', 'welcome bonus');
    assert.equal(replay.status, 200);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.equal(replay.body.balance.available, 129);
    const deduct = await grant(-29, 'd-1', 'chargeback');
    assert.equal(deduct.status, 201);
    assert.equal(deduct.body.balance.available, 100);
    const ledger = await call(opsToken, 'GET', `/v1/users/${carol}/ledger?limit=2`);
    assert.deepEqual(ledger.body.entries.map((e) => [e.kind, e.amount, e.available_delta, e.actor, e.note]),
      [['deduct', 29, -29, OPERATOR, 'chargeback'], ['grant', 100, 100, OPERATOR, 'welcome bonus']]);
    const account = await call(opsToken, 'GET', `/v1/users/${carol}`);
    assert.equal(account.body.balance.available, 100);
  });

  it('bad adjustments get a JSON error naming the problem, and move nothing', async () => {
    const cases: [unknown, string | undefined, unknown, number, string, RegExp][] = [
      [5, undefined, 'x', 400, 'invalid_request', /Idempotency-Key: required/],
      [5, 'bad key with spaces', 'x', 400, 'invalid_request', /Idempotency-Key/],
      [0, 'z-1', 'x', 400, 'invalid_request', /amount: must not be zero/],
      [1.5, 'z-2', 'x', 400, 'invalid_request', /amount: must be a whole number/],
      ['ten', 'z-3', 'x', 400, 'invalid_request', /amount/],
      [5, 'z-4', undefined, 400, 'invalid_request', /note: is required/],
      [5, 'z-5', '  ', 400, 'invalid_request', /note: must not be empty/],
      [5, 'z-5b', 'a\u0000b', 400, 'invalid_request', /note: must not contain NUL characters/],
      [2_000_000_000, 'z-6', 'x', 400, 'invalid_request', /amount: must be at most/],
      [-101, 'z-7', 'x', 409, 'insufficient_credits', /cannot deduct 101 credits, 100 available/],
      [101, 'g-1', 'welcome bonus', 422, 'idempotency_key_reused', /different request/],
      [100, 'g-1', 'another note', 422, 'idempotency_key_reused', /different request/],
    ];
    for (const [amount, key, note, status, code, message] of cases) {
      const r = await grant(amount, key, note);
      assert.equal(r.status, status, `${JSON.stringify({ amount, key, note })}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, code);
      assert.match(r.body.error.message, message);
    }
    assert.equal((await call(opsToken, 'POST', `/v1/users/${carol}/credits`, { amount: 5, note: 'x', extra: 1 }, { 'idempotency-key': 'z-8' })).status, 400, 'unknown fields');
    const unknown = await call(opsToken, 'POST', '/v1/users/nobody-here/credits', { amount: 5, note: 'x' }, { 'idempotency-key': 'z-9' });
    assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'unknown_user']);
    const badId = await call(opsToken, 'GET', '/v1/users/not%2Fa%2Fuser');
    assert.deepEqual([badId.status, badId.body.error.code], [400, 'invalid_request']);
    assert.equal((await call(carolToken, 'GET', '/v1/me')).body.balance.available, 100, 'nothing moved');
  });

  it('a user\'s own monthly limit stops their next run with a reason; cleared, the defaults apply and the next run completes', async () => {
    const bad = await call(opsToken, 'PUT', `/v1/users/${carol}/limits`, { dailyTokenLimit: -1, monthlyCostLimit: 5 });
    assert.deepEqual([bad.status, bad.body.error.code], [400, 'invalid_request']);
    assert.match(bad.body.error.message, /dailyTokenLimit/);
    const partial = await call(opsToken, 'PUT', `/v1/users/${carol}/limits`, { monthlyCostLimit: 5 });
    assert.equal(partial.status, 400, 'both limits are named (null for none)');
    const spent = (await call(carolToken, 'GET', '/v1/me')).body.limits.monthlyCost.spent;
    const set = await call(opsToken, 'PUT', `/v1/users/${carol}/limits`, { dailyTokenLimit: null, monthlyCostLimit: spent });
    assert.equal(set.status, 200);
    assert.deepEqual(set.body.limits, { source: 'user', dailyTokens: { limit: null, used: 0 }, monthlyCost: { limit: spent, spent, held: 0 } });
    const refused = await runToEnd('write_file b.txt again');
    assert.equal(refused.status, 'failed');
    assert.equal(refused.error.code, 'budget_exceeded', JSON.stringify(refused.error));
    assert.match(refused.error.message, /monthly cost limit/);
    const cleared = await call(opsToken, 'DELETE', `/v1/users/${carol}/limits`);
    assert.equal(cleared.status, 200);
    assert.equal(cleared.body.limits.source, 'default');
    assert.equal(cleared.body.limits.monthlyCost.limit, 1000);
    assert.equal((await runToEnd('write_file c.txt at last')).status, 'completed');
  });
});
