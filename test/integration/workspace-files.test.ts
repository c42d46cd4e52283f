/**
 * The S3 workspace against the real MinIO (no S3 mocks): conditional writes and
 * their retries, multipart uploads, limits, list/stat/delete, path refusals;
 * reusable workspaces through the real API and worker; the retention policy and
 * its Temporal Schedule.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { ScheduleNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';
import { apiFetch } from '../helpers/auth.ts';
import { collect, parse } from '../helpers/runs.ts';
import type { ActivityDeps } from '../../src/activities/deps.ts';
import { deleteFile, listFiles, READ_PREVIEW_BYTES, READ_PREVIEW_CHARS, readFile, statFile, writeFile } from '../../src/activities/tools/files.ts';
import type { Workspace } from '../../src/activities/tools/files.ts';
import { newRunId } from '../../src/runs/ids.ts';
import { s3Keys } from '../../src/shared/names.ts';
import { UPLOAD_PART_BYTES } from '../../src/workspace/objects.ts';
import { WorkspaceUnavailableError } from '../../src/workspace/errors.ts';
import { WorkspaceStore } from '../../src/workspace/store.ts';
import { ensureRetentionSchedule, retentionScheduleId } from '../../src/worker/retention-schedule.ts';

const MiB = 1024 * 1024;

function failure(type: string, pattern?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(e)}`);
    assert.equal(e.type, type, e.message);
    assert.equal(e.nonRetryable, true);
    if (pattern) assert.match(e.message, pattern);
    return true;
  };
}

describe('S3 workspace on MinIO', () => {
  let c: Clients;
  let user: string;
  let deps: ActivityDeps;
  const bucket = () => c.config.s3.bucket;
  const get = async (key: string) => (await c.s3.send(new GetObjectCommand({ Bucket: bucket(), Key: key }))).Body!.transformToString();
  const put = (key: string, body: string | Buffer, extra: Record<string, string> = {}) =>
    c.s3.send(new PutObjectCommand({ Bucket: bucket(), Key: key, Body: body, ...extra }));
  const newWs = (): Workspace => {
    const runId = newRunId();
    return { userId: user, runId, workspaceId: runId };
  };
  const step = (ws: Workspace, index: number) => ({ writer: `${ws.runId}/${index}`, intentKey: s3Keys.stepIntent(ws.userId, ws.runId, index) });

  before(async () => {
    c = await connectClients();
    user = await newUser(c, 100_000, 'ws');
    // The file tools use only the workspace store (with its file-size limit) of their deps.
    deps = { workspace: new WorkspaceStore({ s3: c.s3, bucket: c.config.s3.bucket, fileMaxBytes: 32 * MiB }) } as ActivityDeps;
  });
  after(async () => {
    await c?.close();
  });

  it('MinIO honours If-None-Match and If-Match on PUT and on multipart completion (checksums WHEN_REQUIRED)', async () => {
    const ws = newWs();
    const key = s3Keys.file(ws.userId, ws.workspaceId, 'probe.txt');
    const first = await c.s3.send(new PutObjectCommand({ Bucket: bucket(), Key: key, Body: 'a', IfNoneMatch: '*' }));
    await assert.rejects(c.s3.send(new PutObjectCommand({ Bucket: bucket(), Key: key, Body: 'b', IfNoneMatch: '*' })), { name: 'PreconditionFailed' });
    await assert.rejects(c.s3.send(new PutObjectCommand({ Bucket: bucket(), Key: key, Body: 'b', IfMatch: '"0123456789abcdef0123456789abcdef"' })), { name: 'PreconditionFailed' });
    await c.s3.send(new PutObjectCommand({ Bucket: bucket(), Key: key, Body: 'c', IfMatch: first.ETag }));
    assert.equal(await get(key), 'c');
  });

  it('writes create with If-None-Match, a retried step is idempotent, and a newer writer is never clobbered', async () => {
    const ws = newWs();
    const key = s3Keys.file(ws.userId, ws.workspaceId, 'notes/a.md');
    const w0 = await writeFile(deps, ws, 'notes/a.md', Buffer.from('v1'), step(ws, 0));
    assert.equal(w0.created, true);
    assert.equal(w0.contentType, 'text/markdown; charset=utf-8');
    const head = await c.s3.send(new HeadObjectCommand({ Bucket: bucket(), Key: key }));
    assert.equal(head.ContentType, 'text/markdown; charset=utf-8');
    assert.equal(head.Metadata?.['agentrun-writer'], `${ws.runId}/0`);
    // Step 0 retried (its record was never written): the same condition, its own content: success, no second write.
    const retry = await writeFile(deps, ws, 'notes/a.md', Buffer.from('v1'), step(ws, 0));
    assert.equal(retry.etag, w0.etag);
    assert.equal(await get(key), 'v1');

    // Step 1 overwrites the version it observed.
    const w1 = await writeFile(deps, ws, 'notes/a.md', Buffer.from('v2'), step(ws, 1));
    assert.equal(w1.created, false);
    assert.equal(await get(key), 'v2');
    // Someone writes newer content; a retry of step 1 must not clobber it.
    await put(key, 'v3 from someone else');
    await assert.rejects(writeFile(deps, ws, 'notes/a.md', Buffer.from('v2'), step(ws, 1)), failure('WriteConflict', /notes\/a\.md changed since this step looked at it/));
    assert.equal(await get(key), 'v3 from someone else');

    // Step 2 observed v3 (its intent record), then crashed before writing; meanwhile v4 arrived.
    const v3 = await c.s3.send(new HeadObjectCommand({ Bucket: bucket(), Key: key }));
    await put(s3Keys.stepIntent(ws.userId, ws.runId, 2), JSON.stringify({ key, etag: v3.ETag }));
    await put(key, 'v4 newer still');
    await assert.rejects(writeFile(deps, ws, 'notes/a.md', Buffer.from('from step 2'), step(ws, 2)), failure('WriteConflict'));
    assert.equal(await get(key), 'v4 newer still');

    // A step that saw no file does not overwrite one that appeared since.
    const fresh = s3Keys.file(ws.userId, ws.workspaceId, 'fresh.txt');
    await put(s3Keys.stepIntent(ws.userId, ws.runId, 3), JSON.stringify({ key: fresh, etag: null }));
    await put(fresh, 'created by someone else');
    await assert.rejects(writeFile(deps, ws, 'fresh.txt', Buffer.from('mine'), step(ws, 3)), failure('WriteConflict', /it was absent/));
    assert.equal(await get(fresh), 'created by someone else');
  });

  it('uploads large files in parts through lib-storage, conditionally and idempotently', async () => {
    const ws = newWs();
    const body = randomBytes(UPLOAD_PART_BYTES + 4 * MiB);
    const w = await writeFile(deps, ws, 'data/big.bin', body, step(ws, 0));
    assert.equal(w.multipart, true);
    assert.match(w.etag, /-2"?$/, 'a two-part multipart ETag');
    const key = s3Keys.file(ws.userId, ws.workspaceId, 'data/big.bin');
    const got = Buffer.from(await (await c.s3.send(new GetObjectCommand({ Bucket: bucket(), Key: key }))).Body!.transformToByteArray());
    assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(body).digest('hex'));
    assert.equal((await c.s3.send(new HeadObjectCommand({ Bucket: bucket(), Key: key }))).ContentType, 'text/plain; charset=utf-8');
    // The retry of the same step: the conditional multipart completion fails, the step sees its own upload.
    const again = await writeFile(deps, ws, 'data/big.bin', body, step(ws, 0));
    assert.equal(again.etag, w.etag);
    // Overwrite in parts under If-Match, then a stale retry of that step is refused after a newer write.
    const body2 = randomBytes(UPLOAD_PART_BYTES + MiB);
    await writeFile(deps, ws, 'data/big.bin', body2, step(ws, 1));
    await put(key, 'small newer content');
    await assert.rejects(writeFile(deps, ws, 'data/big.bin', body2, step(ws, 1)), failure('WriteConflict'));
    assert.equal(await get(key), 'small newer content');
    // No multipart upload is left behind.
    const { ListMultipartUploadsCommand } = await import('@aws-sdk/client-s3');
    const open = await c.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket(), Prefix: s3Keys.workspaceFiles(ws.userId, ws.workspaceId) }));
    assert.equal(open.Uploads?.length ?? 0, 0);
  });

  it('refuses files over WORKSPACE_FILE_MAX_BYTES, on write and on read, with the reason', async () => {
    const ws = newWs();
    const small = { ...deps, workspace: new WorkspaceStore({ s3: c.s3, bucket: bucket(), fileMaxBytes: 1024 }) };
    await assert.rejects(writeFile(small, ws, 'too-big.txt', Buffer.alloc(2000, 97), step(ws, 0)), failure('FileTooLarge', /2000 bytes, over the 1024-byte limit/));
    await put(s3Keys.file(ws.userId, ws.workspaceId, 'big.txt'), Buffer.alloc(4096, 98));
    await assert.rejects(readFile(small, ws, 'big.txt'), failure('FileTooLarge', /4096 bytes/));
    assert.equal((await readFile(deps, ws, 'big.txt')).bytes, 4096);
  });

  it('read_file fetches only its preview: a 24 MiB file costs one ranged GET of at most READ_PREVIEW_BYTES', async () => {
    const ws = newWs();
    const big = Buffer.alloc(24 * MiB, 'a');
    big.write('héllo wörld ', 0, 'utf8'); // multi-byte characters at the start decode whole
    await put(s3Keys.file(ws.userId, ws.workspaceId, 'big.txt'), big);
    const r = await readFile(deps, ws, 'big.txt');
    assert.equal(r.bytes, 24 * MiB);
    assert.ok(r.fetchedBytes > 0 && r.fetchedBytes <= READ_PREVIEW_BYTES, `fetched ${r.fetchedBytes} bytes`);
    assert.equal(r.preview.length, READ_PREVIEW_CHARS);
    assert.ok(r.preview.startsWith('héllo wörld aaa'), r.preview.slice(0, 20));
    // Small and empty files read whole.
    await put(s3Keys.file(ws.userId, ws.workspaceId, 'small.txt'), 'just this');
    assert.deepEqual(await readFile(deps, ws, 'small.txt').then((x) => [x.bytes, x.preview, x.fetchedBytes]), [9, 'just this', 9]);
    await put(s3Keys.file(ws.userId, ws.workspaceId, 'empty.txt'), '');
    assert.deepEqual(await readFile(deps, ws, 'empty.txt').then((x) => [x.bytes, x.preview, x.fetchedBytes]), [0, '', 0]);
  });

  it('lists a directory (not its look-alike siblings), stats, and deletes idempotently', async () => {
    const ws = newWs();
    let i = 0;
    for (const p of ['a.txt', 'notes/x.md', 'notes/sub/y.json', 'notesX.txt', 'z/last.csv']) await writeFile(deps, ws, p, Buffer.from(p), step(ws, i++));
    const all = await listFiles(deps, ws);
    assert.deepEqual(all.files.map((f) => f.path), ['a.txt', 'notes/sub/y.json', 'notes/x.md', 'notesX.txt', 'z/last.csv']);
    assert.equal(all.truncated, false);
    for (const prefix of ['notes', 'notes/']) {
      const r = await listFiles(deps, ws, prefix);
      assert.equal(r.prefix, 'notes/');
      assert.deepEqual(r.files.map((f) => f.path), ['notes/sub/y.json', 'notes/x.md']);
      assert.equal(r.totalBytes, 'notes/sub/y.json'.length + 'notes/x.md'.length);
    }
    const capped = await listFiles(deps, ws, undefined, 2);
    assert.equal(capped.files.length, 2);
    assert.equal(capped.truncated, true);
    assert.deepEqual((await listFiles(deps, ws, 'nothing-here')).files, []);

    const st = await statFile(deps, ws, 'notes/sub/y.json');
    assert.ok(st.exists);
    assert.equal(st.bytes, 'notes/sub/y.json'.length);
    assert.equal(st.contentType, 'application/json; charset=utf-8');
    assert.deepEqual(await statFile(deps, ws, 'missing.txt'), { path: 'missing.txt', exists: false });

    assert.equal((await deleteFile(deps, ws, 'a.txt')).existed, true);
    assert.equal((await deleteFile(deps, ws, 'a.txt')).existed, false, 'a retried delete succeeds');
    await assert.rejects(readFile(deps, ws, 'a.txt'), failure('FileNotFound'));
  });

  it('refuses unsafe paths in every tool before touching S3, non-retryably with the reason', async () => {
    const ws = newWs();
    const cases: [string, RegExp][] = [['../other/x', /'\.\.' segments/], ['..%2fx', /percent/], ['\uff0e\uff0e/x', /looks like/], ['/abs', /absolute/], ['a\u202eb', /bidi/]];
    for (const [path, reason] of cases) {
      await assert.rejects(writeFile(deps, ws, path, Buffer.from('x'), step(ws, 0)), failure('InvalidPath', reason));
      await assert.rejects(readFile(deps, ws, path), failure('InvalidPath', reason));
      await assert.rejects(statFile(deps, ws, path), failure('InvalidPath', reason));
      await assert.rejects(deleteFile(deps, ws, path), failure('InvalidPath', reason));
      await assert.rejects(listFiles(deps, ws, path), failure('InvalidPath', reason));
    }
    const left = await c.s3.send(new ListObjectsV2Command({ Bucket: bucket(), Prefix: s3Keys.runPrefix(ws.userId, ws.runId) }));
    assert.equal(left.KeyCount ?? 0, 0, 'nothing was written, not even an intent record');
  });
});

describe('reusable workspaces through the API', () => {
  let c: Clients;
  let env: Record<string, string>;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let user: string;
  const post = async (body: unknown) => {
    const res = await apiFetch(`${api!.url}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { id: string; error?: { code: string; message: string } } };
  };

  before(async () => {
    c = await connectClients();
    user = await newUser(c, 100_000, 'wsapi');
    env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('wsapi'), DEFAULT_USER_ID: user, WORKSPACE_RETENTION_DAYS: '30' };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c.temporal.schedule.getHandle(retentionScheduleId(env.TEMPORAL_TASK_QUEUE!)).delete().catch(() => undefined);
    await c?.close();
  });

  it('a later run of the same user works in an earlier run\'s files; keys stay under the owning run', async () => {
    const a = await post({ prompt: 'write_file shared/notes.md from run A' });
    assert.equal(a.status, 202);
    assert.equal(parse((await collect(api!.url, a.body.id)).at(-1)!).status, 'completed');

    const b = await post({
      prompt: 'read_file shared/notes.md\nwrite_file shared/b.txt from run B\nlist_files shared/\nstat_file shared/b.txt\ndelete_file shared/b.txt\nstat_file shared/b.txt',
      workspaceId: a.body.id,
    });
    assert.equal(b.status, 202, JSON.stringify(b.body));
    const events = await collect(api!.url, b.body.id);
    assert.equal(parse(events.at(-1)!).status, 'completed', JSON.stringify(parse(events.at(-1)!)));
    const logs = events.filter((e) => e.event === 'log').map(parse);
    assert.ok(logs.some((l) => l.stream === 'file' && l.text === 'from run A'), 'run B read run A\'s file');
    const listing = logs.find((l) => l.stream === 'files')!;
    assert.deepEqual((listing.files as { path: string }[]).map((f) => f.path), ['shared/b.txt', 'shared/notes.md']);
    const stats = logs.filter((l) => l.stream === 'file' && 'exists' in l);
    assert.deepEqual(stats.map((s) => s.exists), [true, false]);
    const summaries = events.filter((e) => e.event === 'step' && parse(e).phase === 'completed').map((e) => parse(e).summary as string);
    assert.match(summaries[1]!, /wrote 10 bytes to shared\/b\.txt \(text\/plain\)/);
    assert.match(summaries[4]!, /deleted shared\/b\.txt/);
    const own = await c.s3.send(new ListObjectsV2Command({ Bucket: c.config.s3.bucket, Prefix: s3Keys.workspaceFiles(user, b.body.id) }));
    assert.equal(own.KeyCount ?? 0, 0, 'run B has no files of its own');
    const link = JSON.parse(await (await c.s3.send(new GetObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.workspaceLink(user, b.body.id) }))).Body!.transformToString()) as { workspaceId: string };
    assert.equal(link.workspaceId, a.body.id);

    // Naming run B (which worked in A's workspace) continues in A's workspace.
    const cRun = await post({ prompt: 'read_file shared/notes.md', workspaceId: b.body.id });
    assert.equal(cRun.status, 202);
    const cEvents = await collect(api!.url, cRun.body.id);
    assert.equal(parse(cEvents.at(-1)!).status, 'completed');
    assert.ok(cEvents.some((e) => e.event === 'log' && parse(e).text === 'from run A'));
  });

  it('refuses a workspaceId that is malformed, unknown, or another user\'s, with a JSON 4xx', async () => {
    const malformed = await post({ prompt: 'read_file x', workspaceId: '../run_x' });
    assert.equal(malformed.status, 400);
    assert.match(malformed.body.error!.message, /^workspaceId: /);
    const unknown = await post({ prompt: 'read_file x', workspaceId: newRunId() });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error!.code, 'workspace_not_found');
    const other = await newUser(c, 0, 'other');
    const theirs = newRunId();
    await c.store.createRun({ id: theirs, userId: other, prompt: 'theirs' });
    const foreign = await post({ prompt: 'read_file x', workspaceId: theirs });
    assert.equal(foreign.status, 404, 'another user\'s run is answered like an unknown one');
    assert.equal(foreign.body.error!.code, 'workspace_not_found');
  });

  it('the worker keeps a retention schedule for its task queue, whose workflow sweeps workspaces', async () => {
    const queue = env.TEMPORAL_TASK_QUEUE!;
    const handle = c.temporal.schedule.getHandle(retentionScheduleId(queue));
    const d = await handle.describe();
    assert.equal(d.action.type, 'startWorkflow');
    assert.equal(d.action.type === 'startWorkflow' && d.action.workflowType, 'WorkspaceRetention');
    assert.deepEqual(d.action.type === 'startWorkflow' && d.action.args, [{ retentionDays: 30 }]);
    assert.equal(await ensureRetentionSchedule(c.temporal, queue, 7), 'updated');
    assert.deepEqual(((await handle.describe()).action as { args: unknown[] }).args, [{ retentionDays: 7 }]);

    // One sweep of a fresh user's workspaces, through the worker: an old finished run's files go.
    const sweeper = await newUser(c, 0, 'sweep');
    const old = newRunId();
    await c.store.createRun({ id: old, userId: sweeper, prompt: 'old' });
    await c.store.updateRun(old, 'completed');
    await c.store.query(`UPDATE agent_runs SET finished_at = now() - interval '40 days' WHERE id = $1`, [old]);
    await c.s3.send(new PutObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.file(sweeper, old, 'x.txt'), Body: 'x' }));
    const r = await c.temporal.workflow.execute('WorkspaceRetention', {
      taskQueue: queue, workflowId: `test-retention-${randomBytes(4).toString('hex')}`, args: [{ retentionDays: 30, userIds: [sweeper] }],
    }) as { deleted: number; deletedWorkspaces: string[] };
    assert.equal(r.deleted, 1);
    assert.deepEqual(r.deletedWorkspaces, [`${sweeper}/${old}`]);

    assert.equal(await ensureRetentionSchedule(c.temporal, queue, 0), 'removed');
    await assert.rejects(handle.describe(), ScheduleNotFoundError);
    assert.equal(await ensureRetentionSchedule(c.temporal, queue, 0), 'absent');
  });
});

describe('workspace retention policy', () => {
  let c: Clients;
  let user: string;
  const files = (runId: string) => c.s3.send(new ListObjectsV2Command({ Bucket: c.config.s3.bucket, Prefix: s3Keys.workspaceFiles(user, runId) })).then((r) => r.KeyCount ?? 0);
  const exists = (key: string) => c.s3.send(new HeadObjectCommand({ Bucket: c.config.s3.bucket, Key: key })).then(() => true, () => false);
  const workspace = () => new WorkspaceStore({ s3: c.s3, bucket: c.config.s3.bucket, fileMaxBytes: c.config.workspace.fileMaxBytes });

  async function run(status: 'completed' | 'failed' | 'cancelled' | 'running', endedDaysAgo: number, nFiles = 2): Promise<string> {
    const id = newRunId();
    await c.store.createRun({ id, userId: user, prompt: 'retention test' });
    await c.store.updateRun(id, status);
    if (status !== 'running') await c.store.query(`UPDATE agent_runs SET finished_at = now() - make_interval(days => $2) WHERE id = $1`, [id, endedDaysAgo]);
    for (let i = 0; i < nFiles; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, nFiles - i) }, (_, j) =>
        c.s3.send(new PutObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.file(user, id, `dir/f${i + j}.txt`), Body: `file ${i + j}` }))));
    }
    await c.s3.send(new PutObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.stepRecord(user, id, 0), Body: '{}' }));
    return id;
  }

  before(async () => {
    c = await connectClients();
    user = await newUser(c, 0, 'retention');
  });
  after(async () => {
    await c?.close();
  });

  it('deletes old finished workspaces, keeps recent, active and still-used ones, and never reuses a deleted one', async () => {
    const oldDone = await run('completed', 40, 1100); // more than one DeleteObjects batch
    const oldFailed = await run('failed', 31);
    const recent = await run('completed', 3);
    const active = await run('running', 0);
    const usedByActive = await run('cancelled', 60);
    const usedRecently = await run('completed', 60);
    const activeUser = await run('running', 0, 0);
    const recentUser = await run('completed', 2, 0);
    assert.equal(await workspace().claim(c.store, user, activeUser, usedByActive), usedByActive);
    assert.equal(await workspace().claim(c.store, user, recentUser, usedRecently), usedRecently);

    const dry = await workspace().prune(c.store, { retentionDays: 30, userIds: [user], dryRun: true });
    assert.deepEqual(dry.deleted.map((d) => d.runId).sort(), [oldDone, oldFailed].sort());
    assert.equal(await files(oldDone), 1000, 'a dry run deletes nothing (the listing shows its first 1000)');

    const report = await workspace().prune(c.store, { retentionDays: 30, userIds: [user] });
    assert.deepEqual(report.deleted.map((d) => [d.runId, d.files]).sort(), [[oldDone, 1100], [oldFailed, 2]].sort());
    const kept = Object.fromEntries(report.kept.map((k) => [k.runId, k.reason]));
    assert.match(kept[recent]!, /ended within the retention period/);
    assert.match(kept[active]!, /run is running/);
    assert.match(kept[usedByActive]!, new RegExp(`in use by ${activeUser} \\(running\\)`));
    assert.match(kept[usedRecently]!, new RegExp(`used by ${recentUser} within the retention period`));
    assert.equal(await files(oldDone), 0);
    assert.equal(await files(oldFailed), 0);
    for (const id of [recent, active, usedByActive, usedRecently]) assert.equal(await files(id), 2, id);
    assert.ok(await exists(s3Keys.workspaceTombstone(user, oldDone)), 'a tombstone marks the deleted workspace');
    assert.ok(await exists(s3Keys.stepRecord(user, oldDone, 0)), 'run records stay');

    // A deleted workspace cannot be claimed again; the refused claim leaves no marker.
    const late = newRunId();
    await assert.rejects(workspace().claim(c.store, user, late, oldDone), (e: unknown) => e instanceof WorkspaceUnavailableError && e.kind === 'deleted');
    assert.equal(await exists(s3Keys.workspaceUser(user, oldDone, late)), false);

    // Once the run using it has ended long enough ago, the workspace goes too.
    await c.store.updateRun(activeUser, 'completed');
    await c.store.query(`UPDATE agent_runs SET finished_at = now() - interval '35 days' WHERE id = $1`, [activeUser]);
    const second = await workspace().prune(c.store, { retentionDays: 30, userIds: [user] });
    assert.deepEqual(second.deleted.map((d) => d.runId), [usedByActive]);
    // With the policy off, nothing is even looked at.
    const off = await workspace().prune(c.store, { retentionDays: 0, userIds: [user] });
    assert.deepEqual([off.scanned, off.deleted, off.kept], [0, [], []]);
  });
});
