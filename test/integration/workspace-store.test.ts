/**
 * WorkspaceStore against MinIO: the object primitives every caller now goes through
 * (absent objects as answers, the conditional-write rules, ranged reads, listing pages
 * and cursors, conditional deletes, prefix deletes) and the API's file views.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { connectClients } from '../helpers/stack.ts';
import type { Clients } from '../helpers/stack.ts';
import { newRunId } from '../../src/runs/ids.ts';
import type { StoredEvent } from '../../src/infra/event-log.ts';
import { s3Keys } from '../../src/shared/names.ts';
import { InvalidPathError } from '../../src/shared/workspace-path.ts';
import { InvalidCursorError } from '../../src/workspace/errors.ts';
import { WorkspaceStore } from '../../src/workspace/store.ts';

describe('WorkspaceStore on MinIO', () => {
  let c: Clients;
  let ws: WorkspaceStore;
  const user = 'store-user';
  const fileKey = (runId: string, path: string) => s3Keys.file(user, runId, path);

  before(async () => {
    c = await connectClients();
    ws = new WorkspaceStore({ s3: c.s3, bucket: c.config.s3.bucket, fileMaxBytes: 1 << 20 });
  });
  after(async () => {
    await c?.close();
  });

  it('answers undefined for a missing object, from every read', async () => {
    const key = fileKey(newRunId(), 'nothing.txt');
    assert.equal(await ws.open(key), undefined);
    assert.equal(await ws.open(key, { first: 0, last: 9 }), undefined);
    assert.equal(await ws.getText(key), undefined);
    assert.equal(await ws.getJson(key), undefined);
    assert.equal(await ws.head(key), undefined);
    assert.equal(await ws.exists(key), false);
  });

  it('writes and reads JSON records, and honours If-None-Match and If-Match as answers, not errors', async () => {
    const key = s3Keys.stepRecord(user, newRunId(), 0);
    assert.equal(await ws.putJson(key, { n: 1 }, { ifAbsent: true }), true);
    assert.equal(await ws.putJson(key, { n: 2 }, { ifAbsent: true }), false, 'a second create is refused');
    assert.deepEqual(await ws.getJson(key), { n: 1 });
    const info = await ws.head(key);
    assert.equal(info?.contentType, 'application/json');
    assert.deepEqual(await ws.put(key, '{"n":3}', { condition: { ifMatch: '"0123456789abcdef0123456789abcdef"' } }), { written: false });
    const w = await ws.put(key, '{"n":4}', { contentType: 'application/json', condition: { ifMatch: info.etag! } });
    assert.equal(w.written, true);
    assert.deepEqual(await ws.getJson(key), { n: 4 });
    // Without a condition a write lands whatever is there.
    assert.equal(await ws.putJson(key, { n: 5 }), true);
    assert.deepEqual(await ws.getJson(key), { n: 5 });
  });

  it('reads a range with the whole size, an empty object with any range, and keeps metadata', async () => {
    const runId = newRunId();
    await ws.put(fileKey(runId, 'ten.txt'), Buffer.from('0123456789'), { contentType: 'text/plain', metadata: { 'agentrun-writer': 'me' } });
    const part = await ws.open(fileKey(runId, 'ten.txt'), { first: 0, last: 3 });
    assert.equal(part?.info.bytes, 10);
    assert.equal((await part.read()).toString(), '0123');
    assert.equal((await ws.head(fileKey(runId, 'ten.txt')))?.metadata?.['agentrun-writer'], 'me');
    await ws.put(fileKey(runId, 'empty.txt'), '');
    const empty = await ws.open(fileKey(runId, 'empty.txt'), { first: 0, last: 3 });
    assert.equal(empty?.info.bytes, 0);
    assert.equal((await empty.read()).length, 0);
  });

  it('deletes only the version named, counts a missing object as absent, and deletes whole prefixes', async () => {
    const runId = newRunId();
    const key = fileKey(runId, 'd.txt');
    const v1 = await ws.put(key, 'v1');
    assert.ok(v1.written);
    await ws.put(key, 'v2');
    assert.equal(await ws.delete(key, { ifMatch: v1.etag }), 'refused');
    assert.equal(await ws.getText(key), 'v2', 'the newer version stays');
    assert.equal(await ws.delete(key), 'deleted');
    assert.equal(await ws.delete(key), 'absent');
    assert.equal(await ws.delete(key, { ifMatch: v1.etag }), 'absent');

    for (const p of ['a.txt', 'b/c.txt', 'b/d/e.txt']) await ws.put(fileKey(runId, p), p);
    assert.deepEqual(await ws.childPrefixes(s3Keys.workspaceFiles(user, runId)), [`${s3Keys.workspaceFiles(user, runId)}b/`]);
    assert.equal(await ws.hasAny(s3Keys.workspaceFiles(user, runId)), true);
    assert.equal(await ws.deletePrefix(s3Keys.workspaceFiles(user, runId)), 3);
    assert.equal(await ws.hasAny(s3Keys.workspaceFiles(user, runId)), false);
  });

  it('lists a workspace in pages for the API, refuses a foreign cursor, and opens files by checked path', async () => {
    const runId = newRunId();
    for (const p of ['a.md', 'b.json', 'c/d.txt']) await ws.put(fileKey(runId, p), `content of ${p}`);
    const first = await ws.listFiles(user, runId, { limit: 2 });
    assert.deepEqual(first.files.map((f) => [f.path, f.contentType]), [['a.md', 'text/markdown; charset=utf-8'], ['b.json', 'application/json; charset=utf-8']]);
    assert.ok(first.nextCursor);
    const second = await ws.listFiles(user, runId, { limit: 2, cursor: first.nextCursor });
    assert.deepEqual(second.files.map((f) => f.path), ['c/d.txt']);
    assert.equal(second.nextCursor, undefined);
    await assert.rejects(ws.listFiles(user, runId, { limit: 2, cursor: 'not-a-cursor' }), InvalidCursorError);

    const f = await ws.openFile(user, runId, 'c/d.txt');
    assert.equal(f?.size, 'content of c/d.txt'.length);
    const chunks: Buffer[] = [];
    for await (const chunk of f.body) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'content of c/d.txt');
    assert.equal(await ws.openFile(user, runId, 'missing.txt'), undefined);
    await assert.rejects(ws.openFile(user, runId, '../other/x'), InvalidPathError);
  });

  it('archives a run\'s events and reads them back after an id', async () => {
    const runId = newRunId();
    assert.equal(await ws.readArchive(user, runId, undefined), undefined);
    const stored: StoredEvent[] = [1, 2, 3].map((i) => ({ id: `1-${i}`, type: 'log', data: { i } }));
    // The archive reads the run's stream page by page; this log has one short page.
    const events = { readAfter: async (_runId: string, after: string | undefined) => (after === undefined ? stored : []) };
    assert.equal(await ws.archiveEvents(events, user, runId), 3);
    assert.deepEqual((await ws.readArchive(user, runId, undefined))?.map((e) => e.id), ['1-1', '1-2', '1-3']);
    assert.deepEqual((await ws.readArchive(user, runId, '1-1'))?.map((e) => e.id), ['1-2', '1-3']);
  });
});
