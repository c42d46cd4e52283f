/**
 * A step's changes to its workspace, noted from the writes' own answers (a journaled view
 * of the WorkspaceStore), against the real MinIO with versioning: what the journal holds
 * after single PUTs, a multipart upload, a retry that finds its own earlier write, and
 * deletes is exactly what a listing of the bucket's versions says — the listing a step no
 * longer pays for.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { connectClients, newUser } from '../helpers/stack.ts';
import type { Clients } from '../helpers/stack.ts';
import type { ActivityDeps } from '../../src/activities/deps.ts';
import { deleteFile, writeFile } from '../../src/activities/tools/files.ts';
import type { Workspace } from '../../src/activities/tools/files.ts';
import { newRunId } from '../../src/runs/ids.ts';
import { s3Keys } from '../../src/shared/names.ts';
import { applyChanges, changesOf } from '../../src/workspace/index.ts';
import type { WriteJournal } from '../../src/workspace/index.ts';
import { UPLOAD_PART_BYTES } from '../../src/workspace/objects.ts';
import { WorkspaceStore } from '../../src/workspace/store.ts';

describe('the write journal of a step', () => {
  let c: Clients;
  let user: string;
  let store: WorkspaceStore;

  before(async () => {
    c = await connectClients();
    user = await newUser(c, 0, 'journal');
    store = new WorkspaceStore({ s3: c.s3, bucket: c.config.s3.bucket, fileMaxBytes: 32 * 1024 * 1024 });
  });
  after(async () => {
    await c?.close();
  });

  const stepOf = (ws: Workspace, index: number) => {
    const journal: WriteJournal = { prefix: s3Keys.workspaceFiles(ws.userId, ws.workspaceId), files: new Map() };
    const deps = { workspace: store.journaled(journal) } as ActivityDeps;
    const opts = { writer: `${ws.runId}/${index}`, intentKey: s3Keys.stepIntent(ws.userId, ws.runId, index) };
    return { journal, deps, opts };
  };

  it('notes each write\'s and delete\'s version, a retry\'s own earlier write included, and nothing outside the workspace', async () => {
    const runId = newRunId();
    const ws: Workspace = { userId: user, runId, workspaceId: runId };

    const s0 = stepOf(ws, 0);
    await writeFile(s0.deps, ws, 'a.txt', Buffer.from('a1'), s0.opts);
    await writeFile(s0.deps, ws, 'big.bin', randomBytes(UPLOAD_PART_BYTES + 1024), s0.opts);
    await writeFile(s0.deps, ws, 'b.txt', Buffer.from('b1'), s0.opts);
    assert.deepEqual([...s0.journal.files.keys()].sort(), ['a.txt', 'b.txt', 'big.bin'], 'the intent record (outside files/) is not a change');
    for (const v of s0.journal.files.values()) assert.match(String(v), /^[0-9a-f-]{36}$/, 'a version id from each answer, multipart included');
    const c0 = changesOf(runId, s0.journal);
    assert.deepEqual(c0.files, Object.fromEntries(Object.entries((await store.manifest(user, runId))!.files)), 'the journal equals the listing');

    // Step 1 overwrites a.txt, deletes b.txt; its retry (a new attempt, a new journal) finds its own write and deletes again.
    const s1 = stepOf(ws, 1);
    await writeFile(s1.deps, ws, 'a.txt', Buffer.from('a2'), s1.opts);
    await deleteFile(s1.deps, ws, 'b.txt');
    const retry = stepOf(ws, 1);
    await writeFile(retry.deps, ws, 'a.txt', Buffer.from('a2'), { ...retry.opts });
    await deleteFile(retry.deps, ws, 'b.txt');
    const c1 = changesOf(runId, retry.journal);
    assert.deepEqual(c1, changesOf(runId, s1.journal), 'the retry notes what the first attempt did');
    assert.deepEqual(c1.deleted, ['b.txt']);

    const listed = (await store.manifest(user, runId))!;
    assert.deepEqual(applyChanges({ id: runId, files: {} }, [c0, c1]), listed, 'the changes added up equal the listing after step 1');
    assert.equal(Object.keys(listed.files).includes('b.txt'), false);
    // A view notes only its own writes: the store itself notes nothing.
    await store.put(s3Keys.file(user, runId, 'c.txt'), 'c');
    assert.equal(retry.journal.files.has('c.txt'), false);
  });
});
