/**
 * Row-level security through the real PostgREST (behind the /rest/v1 gateway):
 * with a user's JWT, another user's runs, steps, balance and ledger rows are invisible,
 * and the credit functions are out of reach.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createClient } from '@supabase/supabase-js';
import { SignJWT } from 'jose';
import { newRunId } from '../../src/runs/ids.ts';
import { PgStore } from '../../src/store/pg.ts';
import { stackEnv } from '../helpers/stack.ts';

const env = stackEnv();
const secret = new TextEncoder().encode(env.SUPABASE_JWT_SECRET);
const jwt = (claims: Record<string, unknown>, exp = '5m') =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(exp).sign(secret);

describe('row-level security through PostgREST', () => {
  let db: PgStore;
  const users = [`rls-a-${randomBytes(4).toString('hex')}`, `rls-b-${randomBytes(4).toString('hex')}`] as const;
  const runs: Record<string, string> = {};
  let anonKey: string;

  before(async () => {
    db = new PgStore({ databaseUrl: env.DATABASE_URL! });
    anonKey = await jwt({ role: 'anon' }, '1h');
    for (const u of users) {
      const run = newRunId();
      runs[u] = run;
      await db.createRun({ id: run, userId: u, prompt: `secret prompt of ${u}` });
      await db.recordStep({ runId: run, index: 0, userId: u, tool: 'shell', input: {}, status: 'completed', attempt: 1, result: { json: JSON.stringify({ outputTail: `output of ${u}` }) } });
      await db.grant(u, 10, `g:${u}`);
      await db.reserve(u, run, 5, `reserve:${run}`);
      await db.recordAudit({ runId: run, userId: u, actor: u, actorKind: 'jwt', action: 'approve', detail: { comment: `approved by ${u}` } });
      await db.hold(run, 0, 1, 0, `hold:${run}:0`);
      await db.charge(run, null, 1, 10, `charge:${run}:llm`);
    }
  });
  after(async () => db.close());

  const rest = async (path: string, token?: string, init: RequestInit = {}) => {
    const headers: Record<string, string> = { apikey: anonKey, ...(token ? { Authorization: `Bearer ${token}` } : {}), 'Content-Type': 'application/json' };
    return fetch(`${env.SUPABASE_URL}/rest/v1/${path}`, { ...init, headers });
  };

  for (const table of ['agent_runs', 'agent_steps', 'credit_balances', 'credit_ledger', 'credit_reservations', 'agent_audit', 'credit_holds', 'credit_usage_days', 'credit_open_holds', 'agent_step_results']) {
    it(`${table}: a user sees only their own rows`, async () => {
      const [a, b] = users;
      const token = await jwt({ sub: a, role: 'authenticated' });
      const res = await rest(`${table}?select=user_id&user_id=in.(${a},${b})`, token);
      assert.equal(res.status, 200);
      const rows = (await res.json()) as { user_id: string }[];
      assert.ok(rows.length > 0, 'own rows are visible');
      assert.ok(rows.every((r) => r.user_id === a), `only ${a}'s rows: ${JSON.stringify(rows)}`);
    });
  }

  it('supabase-js with a user JWT sees the same: own run only', async () => {
    const [a, b] = users;
    const client = createClient(env.SUPABASE_URL!, anonKey, {
      auth: { persistSession: false, autoRefreshToken: false },
      global: { headers: { Authorization: `Bearer ${await jwt({ sub: b, role: 'authenticated' })}` } },
    });
    const { data, error } = await client.from('agent_runs').select('id, user_id').in('id', [runs[a]!, runs[b]!]);
    assert.equal(error, null);
    assert.deepEqual(data, [{ id: runs[b], user_id: b }]);
  });

  it('anonymous requests see nothing, and users cannot grant themselves credits', async () => {
    const anon = await rest('agent_runs?select=id');
    assert.ok([401, 403].includes(anon.status) || (anon.status === 200 && ((await anon.json()) as unknown[]).length === 0), `anon got ${anon.status}`);
    const token = await jwt({ sub: users[0], role: 'authenticated' });
    const grant = await rest('rpc/credit_grant', token, { method: 'POST', body: JSON.stringify({ p_user_id: users[0], p_amount: 1000000, p_idempotency_key: 'evil' }) });
    assert.ok([401, 403].includes(grant.status), `credit_grant as a user answered ${grant.status}`);
    // Nor settle their own hold at 0 (a free step), nor lift the hold of their run.
    const settle = await rest('rpc/credit_settle_hold', token, { method: 'POST', body: JSON.stringify({ p_hold_key: `hold:${runs[users[0]]}:0`, p_amount: 0, p_tokens: 0, p_charge_key: 'evil' }) });
    assert.ok([401, 403].includes(settle.status), `credit_settle_hold as a user answered ${settle.status}`);
    // Nor finish a step of their run as free (step_finish settles its hold), nor begin one.
    const finish = await rest('rpc/step_finish', token, { method: 'POST', body: JSON.stringify({
      p_run_id: runs[users[0]], p_step_index: 0, p_user_id: users[0], p_tool: 'shell', p_input: {}, p_status: 'completed', p_attempt: 1,
      p_output_summary: 'ok', p_duration_ms: 1, p_hold_key: `hold:${runs[users[0]]}:0`, p_amount: 0, p_tokens: 0, p_charge_key: 'evil' }) });
    assert.ok([401, 403].includes(finish.status), `step_finish as a user answered ${finish.status}`);
    const begin = await rest('rpc/step_begin', token, { method: 'POST', body: JSON.stringify({
      p_run_id: runs[users[0]], p_step_index: 9, p_user_id: users[0], p_tool: 'shell', p_input: {}, p_attempt: 1,
      p_amount: 0, p_tokens: 0, p_hold_key: 'evil', p_default_daily: null, p_default_monthly: null }) });
    assert.ok([401, 403].includes(begin.status), `step_begin as a user answered ${begin.status}`);
    const month = await rest('rpc/agentrun_open_holds', token, { method: 'POST', body: JSON.stringify({ p_user_id: users[1] }) });
    assert.ok([401, 403].includes(month.status), `agentrun_open_holds as a user answered ${month.status}`);
    const write = await rest('agent_runs', token, { method: 'POST', body: JSON.stringify({ id: newRunId(), user_id: users[0], prompt: 'x' }) });
    assert.ok([401, 403].includes(write.status), `insert as a user answered ${write.status}`);
    assert.deepEqual(await db.balance(users[0]), { available: 5, reserved: 4 }, 'as the setup left it: 5 reserved, 1 of it charged');
  });

  it('the audit trail cannot be forged or rewritten by a user, nor rewritten by the service', async () => {
    const [a, b] = users;
    const token = await jwt({ sub: a, role: 'authenticated' });
    const forged = { run_id: runs[b], user_id: b, actor: a, actor_kind: 'jwt', action: 'approve' };
    const insert = await rest('agent_audit', token, { method: 'POST', body: JSON.stringify(forged) });
    assert.ok([401, 403].includes(insert.status), `insert into agent_audit as a user answered ${insert.status}`);
    const rpc = await rest('rpc/audit_record', token, { method: 'POST', body: JSON.stringify({ p_run_id: runs[b], p_user_id: b, p_actor: a, p_actor_kind: 'jwt', p_action: 'approve' }) });
    assert.ok([401, 403].includes(rpc.status), `audit_record as a user answered ${rpc.status}`);
    const del = await rest(`agent_audit?run_id=eq.${runs[a]}`, token, { method: 'DELETE' });
    assert.ok([401, 403].includes(del.status), `delete from agent_audit as a user answered ${del.status}`);
    await assert.rejects(db.query('UPDATE agent_audit SET actor = $1 WHERE run_id = $2', ['someone-else', runs[a]]), /append-only/);
    await assert.rejects(db.query('DELETE FROM agent_audit WHERE run_id = $1', [runs[a]]), /append-only/);
    const rows = await db.listAudit(runs[a]!);
    assert.deepEqual(rows.map((r) => [r.actor, r.action, r.detail]), [[a, 'approve', { comment: `approved by ${a}` }]]);
  });

  it('rejects expired and wrongly signed tokens', async () => {
    const expired = await new SignJWT({ sub: users[0], role: 'authenticated' }).setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt(Math.floor(Date.now() / 1000) - 3600).setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(secret);
    assert.equal((await rest('agent_runs?select=id', expired)).status, 401);
    const forged = await new SignJWT({ sub: users[0], role: 'authenticated' }).setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m').sign(new TextEncoder().encode('not-the-secret-not-the-secret-not-the-secret'));
    assert.equal((await rest('agent_runs?select=id', forged)).status, 401);
  });
});
