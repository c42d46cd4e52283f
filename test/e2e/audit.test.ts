/**
 * The audit trail on real runs: every control action through the API is in `agent_audit`
 * (who, when, what the run waited for) and on the run's event log with its actor; a
 * signal sent to Temporal directly is marked as such; users read only their own rows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from '@supabase/supabase-js';
import { DIRECT_ACTOR, approveSignal, messageSignal } from '../../src/workflows/definitions.ts';
import { mintToken } from '../helpers/auth.ts';
import { collect, parse } from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

describe('audit trail of control actions', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let api: (Proc & { url: string; token: string }) | undefined;
  let alice: string;
  let bob: string;
  let aliceToken: string;
  let bobToken: string;
  let operator: string;
  let operatorToken: string;

  before(async () => {
    c = await connectClients();
    alice = await newUser(c, 10_000, 'audit-a');
    bob = await newUser(c, 10_000, 'audit-b');
    operator = await newUser(c, 0, 'audit-op');
    [aliceToken, bobToken, operatorToken] = await Promise.all([mintToken(alice), mintToken(bob), mintToken(operator)]);
    const env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('audit'), DEFAULT_USER_ID: alice, APPROVAL_TOOLS: 'shell', API_RATE_LIMIT: '5000', AUTH_OPERATORS: operator };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c?.close();
  });

  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${api!.url}${path}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const start = async (token: string, prompt: string, extra: Record<string, unknown> = {}) => {
    const r = await call(token, 'POST', '/v1/runs', { prompt, ...extra });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.id as string;
  };
  const waitStatus = (token: string, id: string, status: string) =>
    waitUntil(`run ${id} ${status}`, async () => (await call(token, 'GET', `/v1/runs/${id}`)).body.status === status, 60_000);
  const events = async (id: string) => (await collect(api!.url, id)).map((m) => ({ type: m.event, data: parse(m) }));

  it('"who approved this shell step?" is answered by agent_audit and by the run\'s event log', async () => {
    const id = await start(aliceToken, 'shell echo audited');
    await waitStatus(aliceToken, id, 'awaiting_approval');
    // Bob cannot approve Alice's run (404, as for a run that does not exist), and that leaves no row.
    assert.equal((await call(bobToken, 'POST', `/v1/runs/${id}/approve`, {})).status, 404);
    const ok = await call(aliceToken, 'POST', `/v1/runs/${id}/approve`, { comment: 'echo is harmless' });
    assert.equal(ok.status, 202);
    await waitStatus(aliceToken, id, 'completed');

    const rows = await c.store.listAudit(id);
    assert.equal(rows.length, 1, JSON.stringify(rows));
    const [row] = rows;
    assert.equal(row!.action, 'approve');
    assert.equal(row!.actor, alice);
    assert.equal(row!.actor_kind, 'jwt');
    assert.equal(row!.user_id, alice);
    assert.equal(row!.detail.comment, 'echo is harmless');
    assert.match(String((row!.detail.waitingFor as { detail?: string }).detail), /shell/);
    assert.ok(Math.abs(Date.now() - Date.parse(row!.created_at)) < 10 * 60_000, row!.created_at);

    const log = await events(id);
    const answer = log.find((e) => e.type === 'approval' && e.data.approved === true);
    assert.ok(answer, JSON.stringify(log));
    assert.equal(answer.data.actor, alice);
  });

  it('reject, pause, resume, message and cancel are each recorded with their actor, in the table and on the log', async () => {
    const rejected = await start(aliceToken, 'write_file r.txt x', { requireApproval: true });
    await waitStatus(aliceToken, rejected, 'awaiting_approval');
    assert.equal((await call(aliceToken, 'POST', `/v1/runs/${rejected}/approve`, { approved: false, comment: 'no' })).status, 202);
    await waitStatus(aliceToken, rejected, 'cancelled');
    assert.deepEqual((await c.store.listAudit(rejected)).map((r) => [r.action, r.actor]), [['reject', alice]]);
    assert.equal((await events(rejected)).find((e) => e.type === 'approval' && e.data.approved === false)?.data.actor, alice);

    const id = await start(aliceToken, 'write_file a.txt 1\nwrite_file b.txt 2', { requireApproval: true });
    await waitStatus(aliceToken, id, 'awaiting_approval');
    // Paused while waiting: the pause takes effect before the first step, after the approval.
    assert.equal((await call(aliceToken, 'POST', `/v1/runs/${id}/pause`)).status, 202);
    assert.equal((await call(aliceToken, 'POST', `/v1/runs/${id}/approve`, { comment: 'go' })).status, 202);
    await waitStatus(aliceToken, id, 'paused');
    assert.equal((await call(aliceToken, 'POST', `/v1/runs/${id}/messages`, { text: 'take your time' })).status, 202);
    assert.equal((await call(aliceToken, 'POST', `/v1/runs/${id}/cancel`)).status, 202);
    await waitStatus(aliceToken, id, 'cancelled');

    const rows = await c.store.listAudit(id);
    assert.deepEqual(rows.map((r) => [r.action, r.actor]), [['pause', alice], ['approve', alice], ['message', alice], ['cancel', alice]]);
    assert.equal(rows[1]!.detail.comment, 'go');
    assert.equal(rows[2]!.detail.text, 'take your time');
    const log = await events(id);
    assert.equal(log.find((e) => e.type === 'status' && e.data.status === 'paused')?.data.actor, alice);
    const control = log.filter((e) => e.type === 'log' && e.data.stream === 'control').map((e) => [e.data.action, e.data.actor]);
    assert.deepEqual(control, [['message', alice], ['cancel', alice]]);
    assert.equal(log.at(-1)!.type, 'end');
  });

  it('resume and a seed-API retry are recorded too; a signal, a message or a cancellation sent to Temporal directly is recorded as temporal-direct', async () => {
    const id = await start(aliceToken, 'write_file c.txt 1', { requireApproval: true });
    await waitStatus(aliceToken, id, 'awaiting_approval');
    assert.equal((await call(aliceToken, 'POST', `/v1/runs/${id}/pause`)).status, 202);
    assert.equal((await call(aliceToken, 'POST', `/v1/runs/${id}/resume`)).status, 202);
    // What `temporal workflow signal --name approve` does: no API, so no actor in the signal.
    await c.temporal.workflow.getHandle(id).signal(approveSignal, { approved: false, comment: 'from the CLI' });
    await waitStatus(aliceToken, id, 'cancelled');
    assert.equal((await events(id)).find((e) => e.type === 'approval' && e.data.approved === false)?.data.actor, DIRECT_ACTOR);
    // The worker records the direct signal when the workflow announces it: actor kind `temporal`, once.
    const rows0 = await c.store.listAudit(id);
    assert.deepEqual(rows0.map((r) => [r.action, r.actor, r.actor_kind]), [['pause', alice, 'jwt'], ['resume', alice, 'jwt'], ['reject', DIRECT_ACTOR, 'temporal']]);
    assert.equal(rows0[2]!.detail.comment, 'from the CLI');

    // What `temporal workflow cancel` does: a cancellation the API never saw, recorded by the worker once.
    const direct = await start(aliceToken, 'write_file d.txt 1', { requireApproval: true });
    await waitStatus(aliceToken, direct, 'awaiting_approval');
    await c.temporal.workflow.getHandle(direct).cancel();
    await waitStatus(aliceToken, direct, 'cancelled');
    const cancelRows = await waitUntil('the direct cancel recorded', async () => {
      const r = await c.store.listAudit(direct);
      return r.length > 0 ? r : undefined;
    });
    assert.deepEqual(cancelRows.map((r) => [r.action, r.actor, r.actor_kind]), [['cancel', DIRECT_ACTOR, 'temporal']]);

    // What `temporal workflow signal --name message` does: recorded when the run announces it.
    const messaged = await start(aliceToken, 'write_file m.txt 1', { requireApproval: true });
    await waitStatus(aliceToken, messaged, 'awaiting_approval');
    await c.temporal.workflow.getHandle(messaged).signal(messageSignal, { text: 'hello from the CLI' });
    assert.equal((await call(aliceToken, 'POST', `/v1/runs/${messaged}/approve`)).status, 202);
    await waitStatus(aliceToken, messaged, 'completed');
    const messageRows = await waitUntil('the direct message recorded', async () => {
      const r = (await c.store.listAudit(messaged)).filter((x) => x.action === 'message');
      return r.length > 0 ? r : undefined;
    });
    assert.deepEqual(messageRows.map((r) => [r.actor, r.actor_kind, r.detail.text]), [[DIRECT_ACTOR, 'temporal', 'hello from the CLI']]);
    assert.ok((await events(messaged)).some((e) => e.type === 'log' && e.data.stream === 'control' && e.data.action === 'message' && e.data.actor === DIRECT_ACTOR));

    const retried = await call(aliceToken, 'POST', '/agent/execute', { action: 'retry', run_id: id });
    assert.equal(retried.status, 202, JSON.stringify(retried.body));
    const rows = await c.store.listAudit(id);
    assert.deepEqual(rows.at(-1)!.action, 'retry');
    assert.equal(rows.at(-1)!.actor, alice);
    assert.equal(rows.at(-1)!.detail.runId, retried.body.run_id);
  });

  it('an operator retrying another user\'s dead-lettered run is recorded on that run, with the operator as actor', async () => {
    const id = await start(aliceToken, 'read_file no-such-file.txt');
    await waitStatus(aliceToken, id, 'failed');
    const entry = await waitUntil('the failed run on the dead-letter list', async () => {
      const list = await call(operatorToken, 'GET', '/v1/queue/failed?limit=1000');
      return (list.body.entries as { id: string; runId: string | null }[]).find((e) => e.runId === id);
    }, 30_000);
    const retried = await call(operatorToken, 'POST', `/v1/queue/failed/${encodeURIComponent(entry.id)}/retry`);
    assert.equal(retried.status, 202, JSON.stringify(retried.body));
    const [row] = await c.store.listAudit(id);
    assert.deepEqual([row!.action, row!.actor, row!.user_id, row!.detail.runId], ['retry', operator, alice, retried.body.runId]);
    await waitStatus(aliceToken, retried.body.runId as string, 'failed'); // the same prompt fails again: nothing left running
  });

  it('through PostgREST a user reads the audit rows of their own runs only', async () => {
    const env = stackEnv();
    const aRuns = (await c.store.query<{ run_id: string }>('SELECT DISTINCT run_id FROM agent_audit WHERE user_id = $1', [alice])).rows.map((r) => r.run_id);
    assert.ok(aRuns.length > 0);
    const asBob = createClient(env.SUPABASE_URL!, bobToken, {
      auth: { persistSession: false, autoRefreshToken: false }, global: { headers: { Authorization: `Bearer ${bobToken}` } },
    });
    const seen = await asBob.from('agent_audit').select('run_id, actor').in('run_id', aRuns);
    assert.equal(seen.error, null);
    assert.deepEqual(seen.data, []);
    const asAlice = createClient(env.SUPABASE_URL!, aliceToken, {
      auth: { persistSession: false, autoRefreshToken: false }, global: { headers: { Authorization: `Bearer ${aliceToken}` } },
    });
    const own = await asAlice.from('agent_audit').select('run_id, actor').in('run_id', aRuns);
    assert.equal(own.error, null);
    assert.ok((own.data ?? []).length >= aRuns.length);
  });
});
