/** The checks `./dev restore` makes before it touches anything: the backup is whole and from a schema this code knows. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { movedVersions } from '../../src/dev/backup/bucket.ts';
import { readManifest } from '../../src/dev/backup/index.ts';
import type { BackupManifest } from '../../src/dev/backup/index.ts';
import type { StepRecord } from '../../src/workspace/index.ts';
import { LATEST_MIGRATION } from '../../src/store/schema.ts';

describe('backup manifest', () => {
  const root = mkdtempSync(join(tmpdir(), 'agentrun-manifest-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;
  function backupDir(change: (m: BackupManifest) => void = () => undefined, skip: string[] = []): string {
    const dir = join(root, String(n++));
    mkdirSync(join(dir, 's3'), { recursive: true });
    const m: BackupManifest = {
      format: 'agentrun-backup/1', createdAt: new Date().toISOString(), migration: LATEST_MIGRATION, bucket: 'b',
      parts: (['temporal', 'postgres', 'redis', 's3'] as const).map((name) => ({ name, file: { temporal: 'temporal.db', postgres: 'postgres.dump', redis: 'redis.rdb', s3: 's3' }[name], savedAt: '' })),
      counts: { runs: 0, ledgerEntries: 0, objects: 0 },
    };
    change(m);
    for (const f of ['temporal.db', 'postgres.dump', 'redis.rdb', 's3/index.json']) if (!skip.includes(f)) writeFileSync(join(dir, f), f.endsWith('.json') ? '[]' : 'x');
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    return dir;
  }

  it('accepts a whole backup at this code migration or an older one, in either format', () => {
    assert.equal(readManifest(backupDir()).migration, LATEST_MIGRATION);
    assert.equal(readManifest(backupDir((m) => { m.format = 'agentrun-backup/2'; })).format, 'agentrun-backup/2');
    assert.equal(readManifest(backupDir((m) => { m.migration = '1795420000000_initial-schema'; })).migration, '1795420000000_initial-schema');
  });

  it('refuses a database newer than this code, a missing part, another format, and a directory without a backup', () => {
    assert.throws(() => readManifest(backupDir((m) => { m.migration = '1899999999999_from-the-future'; })),
      /the backup's database is at migration 1899999999999_from-the-future, newer than this code's .*: restore it with the agentrun version that wrote it/);
    assert.throws(() => readManifest(backupDir(undefined, ['redis.rdb'])), /redis\.rdb is missing \(the redis part\)/);
    assert.throws(() => readManifest(backupDir(undefined, ['s3/index.json'])), /s3\/index\.json is missing/);
    assert.throws(() => readManifest(backupDir((m) => { (m as { format: string }).format = 'agentrun-backup/9'; })), /format agentrun-backup\/9, this code restores agentrun-backup\/2 and agentrun-backup\/1/);
    assert.throws(() => readManifest(root), /holds no backup \(no manifest\.json\)/);
  });

  it('a restore maps the version ids a step record or a workspace base names to the versions it wrote again', () => {
    const moved = new Map([['v1', 'n1'], ['v2', 'n2']]);
    const record = { index: 0, tool: 'write_file', ok: true, summary: '', durationMs: 1,
      workspace: { id: 'r', files: { 'a.txt': 'v1', 'b.txt': 'kept' } }, changes: { id: 'r', files: { 'a.txt': 'v2' }, deleted: ['c.txt'] } } satisfies StepRecord;
    assert.deepEqual(movedVersions(record, moved), {
      ...record, workspace: { id: 'r', files: { 'a.txt': 'n1', 'b.txt': 'kept' } }, changes: { id: 'r', files: { 'a.txt': 'n2' }, deleted: ['c.txt'] },
    });
    assert.deepEqual(movedVersions({ id: 'r', files: { 'a.txt': 'v2' } }, moved), { id: 'r', files: { 'a.txt': 'n2' } });
    const read: StepRecord = { index: 1, tool: 'read_file', ok: true, summary: '', durationMs: 1 };
    assert.equal(movedVersions(read, moved), undefined, 'nothing to rewrite');
  });
});
