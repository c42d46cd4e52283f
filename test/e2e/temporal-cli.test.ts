/**
 * Operating live runs with the `temporal` CLI, as an operator would: approve a
 * gated run, pause and resume, find runs by AgentStatus, cancel with the
 * reservation released. Real worker, API and activities.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { temporalCli } from '../helpers/temporal-cli.ts';
import { redisKeys } from '../../src/shared/names.ts';
import { collect, parse } from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';
import { apiFetch } from '../helpers/auth.ts';

describe('operating runs with the temporal CLI', () => {
  let c: Clients;
  let env: Record<string, string>;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;

  before(async () => {
    c = await connectClients();
    const user = await newUser(c, 10_000, 'ops');
    env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('ops'), DEFAULT_USER_ID: user };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c.close();
  });

  const cli = (...args: string[]) => temporalCli(env)(...args);
  const start = async (body: Record<string, unknown>) => {
    const res = await apiFetch(`${api!.url}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 202);
    return ((await res.json()) as { id: string }).id;
  };
  const status = async (id: string) => ((await (await apiFetch(`${api!.url}/v1/runs/${id}`)).json()) as { status: string }).status;

  it('an approval-gated run waits, is listed by AgentStatus, and proceeds on `temporal workflow signal --name approve`', async () => {
    const id = await start({ prompt: 'write_file gated.txt ok', requireApproval: true });
    await waitUntil('awaiting approval', async () => (await status(id)) === 'awaiting_approval');
    await waitUntil('listed by AgentStatus', () => cli('workflow', 'list', '--query', `AgentStatus="awaiting_approval" AND WorkflowId="${id}"`).includes(id), 20_000);
    const progress = JSON.parse(cli('workflow', 'query', '--workflow-id', id, '--name', 'progress', '--output', 'json')) as { queryResult: [{ waitingFor: { kind: string } }] };
    assert.equal(progress.queryResult[0].waitingFor.kind, 'approval');
    cli('workflow', 'signal', '--workflow-id', id, '--name', 'approve', '--input', '{"approved":true,"comment":"go"}');
    const events = await collect(api!.url, id);
    assert.equal(parse(events.at(-1)!).status, 'completed');
    assert.ok(events.some((e) => e.event === 'approval' && parse(e).approved === true && parse(e).comment === 'go'));
  });

  it('`--name pause` holds the run before its next step; `--name resume` lets it finish', async () => {
    const id = await start({ prompt: 'shell sleep 1\nwrite_file a.txt 1\nwrite_file b.txt 2' });
    await waitUntil('first step started', async () => (await c.redis.xrange(redisKeys.events(id), '-', '+')).some(([, f]) => f[3]!.includes('"started"')));
    cli('workflow', 'signal', '--workflow-id', id, '--name', 'pause');
    await waitUntil('paused', async () => (await status(id)) === 'paused', 20_000);
    const stepsWhilePaused = (await c.redis.xrange(redisKeys.events(id), '-', '+')).filter(([, f]) => f[3]!.includes('"started"')).length;
    assert.equal(stepsWhilePaused, 1);
    cli('workflow', 'signal', '--workflow-id', id, '--name', 'resume');
    const events = await collect(api!.url, id);
    assert.equal(parse(events.at(-1)!).status, 'completed');
    const statuses = events.filter((e) => e.event === 'status').map((e) => parse(e).status);
    assert.ok(statuses.includes('paused'));
  });

  it('`temporal workflow cancel` ends a waiting run as cancelled and releases its reservation', async () => {
    const id = await start({ prompt: 'write_file x.txt y', requireApproval: true, budget: 40 });
    await waitUntil('awaiting approval', async () => (await status(id)) === 'awaiting_approval');
    cli('workflow', 'cancel', '--workflow-id', id);
    const events = await collect(api!.url, id);
    assert.equal(parse(events.at(-1)!).status, 'cancelled');
    const ledger = await c.store.query<{ kind: string; amount: string }>('SELECT kind, amount FROM credit_ledger WHERE run_id = $1 ORDER BY id', [id]);
    assert.deepEqual(ledger.rows.map((r) => [r.kind, Number(r.amount)]), [['reserve', 40], ['release', 40]]);
  });
});
