/**
 * POST /v1/runs/:id/fork: a new run after step N of an ended run, running the rest of its
 * plan in a workspace that holds the files as they were after step N — the versions the
 * steps' records hold (their changes, or a listing after a sandboxed step), copied
 * server-side — while the parent's workspace stays as it ended. Refusals name why.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiFetch, mintToken } from '../helpers/auth.ts';
import { collect, createRun, parse } from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';
import type { StepRecord } from '../../src/workspace/index.ts';

describe('forking a run from a step', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let user: string;

  before(async () => {
    c = await connectClients();
    user = await newUser(c, 1000, 'fork');
    const env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('fork'), DEFAULT_USER_ID: user };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c.close();
  });

  const post = async (path: string, body: unknown, token?: string) => {
    const res = await apiFetch(`${api!.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { id: string; forkOf?: unknown; error: { code: string; message: string } } };
  };
  const file = async (id: string, path: string) => (await apiFetch(`${api!.url}/v1/runs/${id}/files/${path}`)).text();
  const status = async (id: string) => ((await (await apiFetch(`${api!.url}/v1/runs/${id}`)).json()) as { status: string }).status;

  it('a run that overwrites a file at steps 2 and 4, forked from step 3, starts with the step-2 content and runs the rest of the plan', async () => {
    const parent = await createRun(api!.url, 'write_file f.txt v1\nwrite_file f.txt v2\nwrite_file g.txt three\nwrite_file f.txt v4\nread_file f.txt');
    assert.equal(parse((await collect(api!.url, parent)).at(-1)!).status, 'completed');

    const forked = await post(`/v1/runs/${parent}/fork`, { fromStep: 3, requireApproval: true });
    assert.equal(forked.status, 202, JSON.stringify(forked.body));
    assert.deepEqual(forked.body.forkOf, { runId: parent, step: 3 });
    const fork = forked.body.id;
    await waitUntil('the fork waits for approval', async () => (await status(fork)) === 'awaiting_approval');
    // Before it runs anything: the workspace as the parent's was after step 3.
    assert.equal(await file(fork, 'f.txt'), 'v2');
    assert.equal(await file(fork, 'g.txt'), 'three');
    assert.equal(await file(parent, 'f.txt'), 'v4', 'the parent keeps its own workspace');

    assert.equal((await post(`/v1/runs/${fork}/approve`, { approved: true })).status, 202);
    const events = await collect(api!.url, fork);
    assert.equal(parse(events.at(-1)!).status, 'completed');
    const planned = events.find((m) => m.event === 'status' && (parse(m).plan as { steps?: string[] } | undefined)?.steps);
    assert.deepEqual((parse(planned!).plan as { steps: string[] }).steps, ['write_file', 'read_file'], 'the rest of the parent\'s plan, no planner asked');
    const read = events.find((m) => m.event === 'log' && parse(m).stream === 'file' && parse(m).path === 'f.txt');
    assert.equal(parse(read!).text, 'v4');
    assert.equal(await file(fork, 'f.txt'), 'v4');
    assert.equal(await file(parent, 'f.txt'), 'v4');
    const audit = await c.store.listAudit(parent);
    assert.ok(audit.some((a) => a.action === 'fork' && (a.detail as { runId?: string }).runId === fork), 'audited on the parent');
  });

  it('a fork from a step that only read starts with the workspace the step before left', async () => {
    const parent = await createRun(api!.url, 'write_file f.txt v1\nread_file f.txt\nwrite_file f.txt v3');
    assert.equal(parse((await collect(api!.url, parent)).at(-1)!).status, 'completed');
    const forked = await post(`/v1/runs/${parent}/fork`, { fromStep: 2, requireApproval: true });
    assert.equal(forked.status, 202, JSON.stringify(forked.body));
    await waitUntil('the fork waits for approval', async () => (await status(forked.body.id)) === 'awaiting_approval');
    assert.equal(await file(forked.body.id, 'f.txt'), 'v1');
    assert.equal((await post(`/v1/runs/${forked.body.id}/cancel`, {})).status, 202);
  });

  it('adds up the steps\' changes (writes, deletes) from the last listed workspace (a shell step\'s) or the start; a fork of a fork from its copies', async () => {
    const parent = await createRun(api!.url, 'write_file a.txt 1\nwrite_file b.txt 2\ndelete_file a.txt\nshell sh -c "printf 3 > c.txt"\nwrite_file d.txt 4\ndelete_file b.txt\nread_file d.txt');
    assert.equal(parse((await collect(api!.url, parent)).at(-1)!).status, 'completed');
    const files = async (id: string) => {
      const res = await apiFetch(`${api!.url}/v1/runs/${id}/files`);
      const names = ((await res.json()) as { files: { path: string }[] }).files.map((f) => f.path).sort();
      return Object.fromEntries(await Promise.all(names.map(async (n) => [n, await file(id, n)] as const)));
    };
    const forkAt = async (id: string, fromStep: number) => {
      const forked = await post(`/v1/runs/${id}/fork`, { fromStep, requireApproval: true });
      assert.equal(forked.status, 202, JSON.stringify(forked.body));
      await waitUntil('the fork waits for approval', async () => (await status(forked.body.id)) === 'awaiting_approval');
      return forked.body.id;
    };
    const cancel = async (id: string) => assert.equal((await post(`/v1/runs/${id}/cancel`, {})).status, 202);

    const record = async (i: number) => (await c.store.stepResult(parent, i)) as StepRecord;
    const kinds = await Promise.all([0, 1, 2, 3, 4, 5, 6].map(async (i) => { const r = await record(i); return r.workspace ? 'listed' : r.changes ? 'changes' : 'none'; }));
    assert.deepEqual(kinds, ['changes', 'changes', 'changes', 'listed', 'changes', 'changes', 'none'], 'only the sandboxed step lists the workspace');

    const afterDelete = await forkAt(parent, 3);
    assert.deepEqual(await files(afterDelete), { 'b.txt': '2' }, 'after step 3: a.txt deleted (changes from the start)');
    await cancel(afterDelete);
    const afterWrite = await forkAt(parent, 5);
    assert.deepEqual(await files(afterWrite), { 'b.txt': '2', 'c.txt': '3', 'd.txt': '4' }, 'after step 5: the shell step\'s listing plus step 5');
    // The fork of step 5 runs its rest (delete b.txt, read d.txt); a fork of it after its step 1 starts from its copies.
    assert.equal((await post(`/v1/runs/${afterWrite}/approve`, { approved: true })).status, 202);
    assert.equal(parse((await collect(api!.url, afterWrite)).at(-1)!).status, 'completed');
    const grandchild = await forkAt(afterWrite, 1);
    assert.deepEqual(await files(grandchild), { 'c.txt': '3', 'd.txt': '4' });
    await cancel(grandchild);
  });

  it('refuses with the reason: a running run, no such step, the last step, a bad step number, another user\'s run', async () => {
    const parent = await createRun(api!.url, 'write_file a.txt 1\nwrite_file b.txt 2');
    assert.equal(parse((await collect(api!.url, parent)).at(-1)!).status, 'completed');
    const refused = async (body: unknown, code: string, http = 409) => {
      const r = await post(`/v1/runs/${parent}/fork`, body);
      assert.equal(r.status, http, JSON.stringify(r.body));
      assert.equal(r.body.error.code, code, JSON.stringify(r.body));
      return r.body.error.message;
    };
    assert.match(await refused({ fromStep: 2 }, 'nothing_after_step'), /step 2 was the last/);
    assert.match(await refused({ fromStep: 7 }, 'no_such_step'), /has no step 7 on record/);
    assert.match(await refused({ fromStep: 0 }, 'invalid_request', 400), /fromStep: must be at least 1/);
    assert.match(await refused({}, 'invalid_request', 400), /fromStep: is required/);
    const other = await post(`/v1/runs/${parent}/fork`, { fromStep: 1 }, await mintToken('someone-else'));
    assert.equal(other.status, 404);

    const running = await createRun(api!.url, 'shell sleep 30\nwrite_file x.txt 1');
    await waitUntil('running', async () => (await status(running)) === 'running');
    const r = await post(`/v1/runs/${running}/fork`, { fromStep: 1 });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'run_not_ended');
    assert.equal((await post(`/v1/runs/${running}/cancel`, {})).status, 202);
    await waitUntil('cancelled', async () => (await status(running)) === 'cancelled');
  });
});
