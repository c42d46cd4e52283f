/**
 * The run endpoints on real runs (worker, Temporal, Postgres, Redis, MinIO):
 * Idempotency-Key, listing, control signals, workspace files, and the seeds'
 * /agent/execute and /agent/logs/:id/stream.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { readSse } from '../../src/client/sse.ts';
import { apiFetch, authHeaders, mintToken } from '../helpers/auth.ts';
import { collect } from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

interface ErrorBody { error: { code: string; message: string; details?: unknown } }

describe('run endpoints', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let api: (Proc & { url: string; token: string }) | undefined;
  let user: string;

  before(async () => {
    c = await connectClients();
    user = await newUser(c, 100_000, 'runs-api');
    const env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('runsapi'), DEFAULT_USER_ID: user, API_MAX_ACTIVE_RUNS: '100', API_RATE_LIMIT: '5000' };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c?.close();
  });

  const url = (path: string) => `${api!.url}${path}`;
  const post = (path: string, body?: unknown, headers: Record<string, string> = {}) => apiFetch(url(path), {
    method: 'POST', headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = async <T>(res: Response | Promise<Response>) => (await (await res).json()) as T;
  const start = async (body: Record<string, unknown>) => {
    const res = await post('/v1/runs', body);
    const out = await json<{ id: string }>(res);
    assert.equal(res.status, 202, JSON.stringify(out));
    return out.id;
  };
  const view = (id: string) => json<{ status: string; steps: unknown[] }>(apiFetch(url(`/v1/runs/${id}`)));
  const waitStatus = (id: string, status: string, timeoutMs = 60_000) =>
    waitUntil(`run ${id} ${status}`, async () => (await view(id)).status === status, timeoutMs);

  it('Idempotency-Key: 50 concurrent identical requests create exactly one run; a different body under the key is 422', async () => {
    const key = `create-${randomBytes(6).toString('hex')}`;
    const body = { prompt: `write_file idem.txt ${key}`, priority: 2 };
    const answers = await Promise.all(Array.from({ length: 50 }, () => post('/v1/runs', body, { 'idempotency-key': key })));
    const bodies = await Promise.all(answers.map((r) => r.json() as Promise<{ id: string; status: string }>));
    assert.deepEqual([...new Set(answers.map((r) => r.status))], [202]);
    const ids = new Set(bodies.map((b) => b.id));
    assert.equal(ids.size, 1, `ids: ${[...ids].join(', ')}`);
    const [id] = [...ids];
    assert.equal(answers.filter((r) => r.headers.get('idempotent-replayed') === 'true').length, 49);
    const rows = await c.store.query<{ id: string }>('SELECT id FROM agent_runs WHERE user_id = $1 AND prompt = $2', [user, body.prompt]);
    assert.deepEqual(rows.rows.map((r) => r.id), [id]);
    // Later: the same answer (key order does not matter); a different body is refused and starts nothing.
    const replay = await post('/v1/runs', { priority: 2, prompt: body.prompt }, { 'idempotency-key': key });
    assert.equal(replay.status, 202);
    assert.equal((await json<{ id: string }>(replay)).id, id);
    const other = await post('/v1/runs', { prompt: 'write_file other.txt x' }, { 'idempotency-key': key });
    assert.equal(other.status, 422);
    assert.equal((await json<ErrorBody>(other)).error.code, 'idempotency_key_reused');
    const bad = await post('/v1/runs', body, { 'idempotency-key': 'has spaces in it' });
    assert.equal(bad.status, 400);
    await waitStatus(id!, 'completed');
  });

  it('lists the caller\'s runs newest first, in pages with an opaque cursor, filtered by status', async () => {
    const lister = await newUser(c, 10_000, 'lister');
    const token = await mintToken(lister);
    const as = (path: string) => fetch(url(path), { headers: { authorization: `Bearer ${token}` } });
    const startAs = async (prompt: string, extra: Record<string, unknown> = {}) => {
      const res = await fetch(url('/v1/runs'), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ prompt, ...extra }) });
      assert.equal(res.status, 202);
      return (await res.json() as { id: string }).id;
    };
    const done: string[] = [];
    for (let i = 0; i < 4; i++) done.push(await startAs(`write_file l${i}.txt x`));
    const held = await startAs('write_file held.txt x', { requireApproval: true });
    await waitUntil('runs settled', async () => {
      const rows = await Promise.all([...done, held].map((id) => c.store.getRun(id)));
      return rows.slice(0, 4).every((r) => r?.status === 'completed') && rows[4]?.status === 'awaiting_approval';
    });
    const expected = [held, ...done.reverse()];
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { runs: { id: string; status: string; promptPreview: string; links: { self: string } }[]; nextCursor: string | null } =
        await json(as(`/v1/runs?limit=2${cursor ? `&cursor=${cursor}` : ''}`));
      seen.push(...page.runs.map((r) => r.id));
      assert.ok(page.runs.every((r) => r.links.self === `/v1/runs/${r.id}`));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor);
    assert.deepEqual(seen, expected);
    assert.equal(pages, 3);
    const completed = await json<{ runs: { id: string; status: string }[] }>(as('/v1/runs?status=completed'));
    assert.deepEqual(completed.runs.map((r) => r.id), done);
    const waiting = await json<{ runs: { id: string; promptPreview: string }[] }>(as('/v1/runs?status=awaiting_approval,paused'));
    assert.deepEqual(waiting.runs.map((r) => r.id), [held]);
    assert.equal(waiting.runs[0]!.promptPreview, 'write_file held.txt x');
    for (const [q, message] of [['status=done', /^status/], ['limit=0', /^limit/], ['cursor=nonsense', /^cursor/], ['foo=1', /foo/]] as const) {
      const res = await as(`/v1/runs?${q}`);
      assert.equal(res.status, 400, q);
      assert.match((await json<ErrorBody>(res)).error.message, message);
    }
    await fetch(url(`/v1/runs/${held}/cancel`), { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  });

  it('approve (with a comment) lets a held run go on; approve when not waiting is 409', async () => {
    const busy = await start({ prompt: 'shell sleep 3' });
    await waitStatus(busy, 'running');
    const early = await post(`/v1/runs/${busy}/approve`, {});
    assert.equal(early.status, 409);
    assert.equal((await json<ErrorBody>(early)).error.code, 'not_awaiting_approval');
    const id = await start({ prompt: 'write_file approved.txt yes', requireApproval: true });
    await waitStatus(id, 'awaiting_approval');
    const credits = await post(`/v1/runs/${id}/approve`, { approved: true, extraCredits: 5 });
    assert.equal(credits.status, 409, 'extra credits apply to a budget wait only');
    assert.equal((await json<ErrorBody>(credits)).error.code, 'extra_credits_not_applicable');
    const nul = await post(`/v1/runs/${id}/approve`, { approved: true, comment: 'fine\u0000' });
    assert.equal(nul.status, 400, 'a comment the database cannot store');
    assert.match((await json<ErrorBody>(nul)).error.message, /^comment: must not contain NUL characters/);
    const res = await post(`/v1/runs/${id}/approve`, { approved: true, comment: 'looks fine' });
    assert.equal(res.status, 202);
    assert.deepEqual((await json<{ action: string; accepted: boolean }>(res)).accepted, true);
    await waitStatus(id, 'completed');
    const events = await collect(api!.url, id);
    const approval = events.filter((e) => e.event === 'approval').map((e) => JSON.parse(e.data) as Record<string, unknown>);
    assert.ok(approval.some((a) => a.approved === true), JSON.stringify(approval));
    const late = await post(`/v1/runs/${id}/approve`, {});
    assert.equal(late.status, 409);
    assert.equal((await json<ErrorBody>(late)).error.code, 'run_closed');
  });

  it('pause holds a run before its next step, resume lets it finish; messages are accepted', async () => {
    const id = await start({ prompt: 'shell sleep 1\nshell sleep 1\nwrite_file paused.txt done' });
    await waitStatus(id, 'running');
    assert.equal((await post(`/v1/runs/${id}/pause`)).status, 202);
    await waitStatus(id, 'paused', 30_000);
    const msg = await post(`/v1/runs/${id}/messages`, { text: 'carry on when resumed' });
    assert.equal(msg.status, 202);
    const empty = await post(`/v1/runs/${id}/messages`, { text: '' });
    assert.equal(empty.status, 400);
    assert.match((await json<ErrorBody>(empty)).error.message, /^text: must not be empty/);
    const nul = await post(`/v1/runs/${id}/messages`, { text: 'a\u0000b' });
    assert.equal(nul.status, 400);
    assert.match((await json<ErrorBody>(nul)).error.message, /^text: must not contain NUL characters/);
    assert.equal((await post(`/v1/runs/${id}/resume`)).status, 202);
    await waitStatus(id, 'completed');
  });

  it('cancel ends a run cancelled; every control on the closed run is 409 JSON', async () => {
    const id = await start({ prompt: 'write_file never.txt x', requireApproval: true });
    await waitStatus(id, 'awaiting_approval');
    const res = await post(`/v1/runs/${id}/cancel`);
    assert.equal(res.status, 202);
    await waitStatus(id, 'cancelled');
    for (const [action, body] of [['cancel'], ['approve', { approved: true }], ['pause'], ['resume'], ['messages', { text: 'hello?' }]] as const) {
      const r = await post(`/v1/runs/${id}/${action}`, body);
      assert.equal(r.status, 409, action);
      const err = await json<ErrorBody>(r);
      assert.equal(err.error.code, 'run_closed');
      assert.match(err.error.message, /has ended/);
    }
    const wrongType = await apiFetch(url(`/v1/runs/${id}/approve`), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'yes' });
    assert.equal(wrongType.status, 415);
  });

  it('lists and downloads workspace files with their content types; a reused workspace is the earlier run\'s', async () => {
    const first = await start({ prompt: 'write_file notes/hi.txt hello there\nwrite_file data.json {"a": 1}\nwrite_file page.html <script>alert(1)</script>' });
    await waitStatus(first, 'completed');
    const listing = await json<{ runId: string; workspaceId: string; files: { path: string; size: number; contentType: string }[]; nextCursor: null }>(apiFetch(url(`/v1/runs/${first}/files`)));
    assert.equal(listing.workspaceId, first);
    assert.deepEqual(listing.files.map((f) => [f.path, f.size]).sort(), [['data.json', 8], ['notes/hi.txt', 11], ['page.html', 25]]);
    assert.match(listing.files.find((f) => f.path === 'data.json')!.contentType, /^application\/json/);
    const hi = await apiFetch(url(`/v1/runs/${first}/files/notes/hi.txt`));
    assert.equal(hi.status, 200);
    assert.match(hi.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(hi.headers.get('content-length'), '11');
    assert.match(hi.headers.get('content-disposition') ?? '', /^attachment; filename\*=UTF-8''hi\.txt$/);
    assert.equal(await hi.text(), 'hello there');
    const data = await apiFetch(url(`/v1/runs/${first}/files/data.json`));
    assert.match(data.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await data.json(), { a: 1 });
    // HTML is served as a download under a sandboxing CSP, never rendered on the API's origin.
    const html = await apiFetch(url(`/v1/runs/${first}/files/page.html`));
    assert.match(html.headers.get('content-disposition') ?? '', /^attachment/);
    assert.match(html.headers.get('content-security-policy') ?? '', /sandbox/);
    await html.body?.cancel();
    const missing = await apiFetch(url(`/v1/runs/${first}/files/notes/nope.txt`));
    assert.equal(missing.status, 404);
    assert.equal((await json<ErrorBody>(missing)).error.code, 'file_not_found');
    for (const bad of ['..%2F..%2Fother%2Fx', 'notes/..%2F..%2Fx', 'a%00b', '%E2%80%AEtxt.exe', 'a%2520b', '%ZZ']) {
      const r = await apiFetch(url(`/v1/runs/${first}/files/${bad}`));
      assert.equal(r.status, 400, bad);
      assert.match((await json<ErrorBody>(r)).error.code, /^(invalid_path|invalid_request)$/, bad);
    }
    const second = await start({ prompt: 'write_file second.txt more', workspaceId: first });
    await waitStatus(second, 'completed');
    const reused = await json<{ workspaceId: string; files: { path: string }[] }>(apiFetch(url(`/v1/runs/${second}/files`)));
    assert.equal(reused.workspaceId, first);
    assert.deepEqual(reused.files.map((f) => f.path).sort(), ['data.json', 'notes/hi.txt', 'page.html', 'second.txt']);
    assert.equal(await (await apiFetch(url(`/v1/runs/${second}/files/second.txt`))).text(), 'more');
    const page = await json<{ files: unknown[]; nextCursor: string | null }>(apiFetch(url(`/v1/runs/${second}/files?limit=2`)));
    assert.equal(page.files.length, 2);
    assert.ok(page.nextCursor);
    const rest = await json<{ files: unknown[]; nextCursor: string | null }>(apiFetch(url(`/v1/runs/${second}/files?limit=2&cursor=${encodeURIComponent(page.nextCursor)}`)));
    assert.equal(rest.files.length, 2);
    assert.equal(rest.nextCursor, null);
  });

  it('seed /agent/execute: create → status → start → logs stream → status; stop; retry; errors name the problem', async () => {
    const exec = (body: unknown) => post('/agent/execute', body);
    const created = await exec({ action: 'create', prompt: 'write_file seed/test.txt from the seed flow' });
    assert.equal(created.status, 201);
    const { run_id: id, status } = await json<{ run_id: string; status: string }>(created);
    assert.equal(status, 'created');
    assert.equal((await json<{ run_id: string; status: string }>(exec({ action: 'status', run_id: id }))).status, 'created');
    assert.equal((await view(id)).status, 'created');
    const started = await exec({ action: 'start', run_id: id });
    assert.equal(started.status, 202);
    assert.deepEqual(await json<{ run_id: string; status: string; started: boolean }>(started), {
      run_id: id, status: 'queued', started: true, links: { self: `/v1/runs/${id}`, events: `/v1/runs/${id}/events`, files: `/v1/runs/${id}/files` },
    });
    const events: string[] = [];
    for await (const m of readSse(url(`/agent/logs/${id}/stream`), { headers: authHeaders(api!.url) })) events.push(m.event);
    assert.equal(events.at(-1), 'end');
    assert.ok(events.includes('step'));
    const final = await json<{ run_id: string; status: string; steps: unknown[]; usage: { credits: number } }>(exec({ action: 'status', run_id: id }));
    assert.equal(final.run_id, id);
    assert.equal(final.status, 'completed');
    assert.ok(final.usage.credits > 0);
    const again = await exec({ action: 'start', run_id: id });
    assert.equal(again.status, 200);
    assert.equal((await json<{ started: boolean }>(again)).started, false);
    const notRetryable = await exec({ action: 'retry', run_id: id });
    assert.equal(notRetryable.status, 409);
    assert.equal((await json<ErrorBody>(notRetryable)).error.code, 'run_not_retryable');

    const heldRes = await exec({ action: 'create', prompt: 'shell sleep 30' });
    const held = (await json<{ run_id: string }>(heldRes)).run_id;
    assert.equal((await exec({ action: 'start', run_id: held })).status, 202);
    await waitStatus(held, 'running');
    const stopped = await exec({ action: 'stop', run_id: held });
    assert.equal(stopped.status, 202);
    assert.equal((await json<{ status: string }>(stopped)).status, 'cancelling');
    await waitStatus(held, 'cancelled');
    const retried = await exec({ action: 'retry', run_id: held });
    assert.equal(retried.status, 202);
    const r = await json<{ run_id: string; retry_of: string; status: string }>(retried);
    assert.equal(r.retry_of, held);
    assert.notEqual(r.run_id, held);
    assert.equal((await c.store.getRun(r.run_id))!.prompt, 'shell sleep 30');
    await post(`/v1/runs/${r.run_id}/cancel`);

    for (const [body, code, message] of [
      [{ action: 'launch' }, 400, /^action: must be one of create, start, stop, status, retry/],
      [{ action: 'start' }, 400, /^run_id: is required/],
      [{ action: 'create' }, 400, /^prompt: is required/],
      [{ action: 'status', run_id: 'run_00000000000000000000000000' }, 404, /not found/],
    ] as const) {
      const res = await exec(body);
      assert.equal(res.status, code, JSON.stringify(body));
      assert.match((await json<ErrorBody>(res)).error.message, message);
    }
  });
});
