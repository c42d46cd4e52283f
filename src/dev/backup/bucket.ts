/**
 * The workspace bucket's part of a backup: every version of every object, oldest first,
 * delete markers included, so a restore puts back the workspaces' histories and not only
 * their latest files. Forks depend on it: a step's record names the S3 version of each
 * file the workspace held after it (src/workspace/versions.ts). A restore writes each
 * version again, which gives it a new version id, so it then rewrites the records that
 * name versions (step records, a fork's workspace base, and the step records the
 * database keeps: moveStepResults) with the new ids.
 */
import { createWriteStream, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, ListObjectVersionsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import type pg from 'pg';
import type { StackContext } from '../context.ts';
import { stackS3 } from '../services/minio.ts';

export const S3_DIR = 's3';

/**
 * One saved version: its key, its file under s3/ (none for a delete marker), what a GET
 * returns besides the bytes, and its version id in the saved bucket ('null' when the
 * bucket kept no versions; absent in backups made before versions were saved).
 */
export interface SavedObject {
  key: string; file?: string; size?: number; contentType?: string; metadata?: Record<string, string>;
  versionId?: string; deleteMarker?: true;
}

interface Listed { key: string; versionId: string; deleteMarker: boolean; at: number }

/** Every version and delete marker of the bucket, each key's oldest first. */
async function listVersions(s3: S3Client, bucket: string): Promise<Listed[]> {
  const byKey = new Map<string, Listed[]>();
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  do {
    const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
    const add = (key: string | undefined, versionId: string | undefined, deleteMarker: boolean, at: Date | undefined) => {
      if (!key) return;
      const list = byKey.get(key) ?? [];
      list.push({ key, versionId: versionId ?? 'null', deleteMarker, at: at?.getTime() ?? 0 });
      byKey.set(key, list);
    };
    for (const v of page.Versions ?? []) add(v.Key, v.VersionId, false, v.LastModified);
    for (const m of page.DeleteMarkers ?? []) add(m.Key, m.VersionId, true, m.LastModified);
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
  } while (keyMarker);
  // The listing gives each key's versions newest first, markers apart: merged by time, oldest first.
  return [...byKey.values()].flatMap((list) => list.reverse().sort((a, b) => a.at - b.at));
}

/** Every version of every object to s3/NNNNNN with an index (keys may hold any character, so files are numbered). */
export async function saveS3(ctx: StackContext, dir: string): Promise<number> {
  const s3 = stackS3(ctx);
  const objects: SavedObject[] = [];
  mkdirSync(join(dir, S3_DIR), { recursive: true });
  try {
    for (const v of await listVersions(s3, ctx.bucket)) {
      if (v.deleteMarker) {
        objects.push({ key: v.key, versionId: v.versionId, deleteMarker: true });
        continue;
      }
      const file = String(objects.length).padStart(6, '0');
      const got = await s3.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: v.key, VersionId: v.versionId }));
      await pipeline(got.Body as Readable, createWriteStream(join(dir, S3_DIR, file)));
      objects.push({ key: v.key, file, size: statSync(join(dir, S3_DIR, file)).size, contentType: got.ContentType, metadata: got.Metadata, versionId: v.versionId });
    }
  } finally {
    s3.destroy();
  }
  writeFileSync(join(dir, S3_DIR, 'index.json'), JSON.stringify(objects));
  return objects.filter((o) => !o.deleteMarker).length;
}

/** Deletes every version and delete marker of the bucket. */
async function emptyBucket(s3: S3Client, bucket: string): Promise<void> {
  const all = await listVersions(s3, bucket);
  for (let i = 0; i < all.length; i += 1000) {
    const batch = all.slice(i, i + 1000).map((v) => ({ Key: v.key, VersionId: v.versionId }));
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch, Quiet: true } }));
  }
}

/** Records that name file versions: a step's (not its intent) and a fork's workspace base. */
const VERSIONED_RECORD = /\/\.agentrun\/(steps\/\d+(@[^/]*)?|workspace-base)\.json$/;

type Files = Record<string, string | null>;
/** The parts of a step record (src/workspace/versions.ts StepRecord) or a workspace base that name versions. */
export interface VersionedRecord { files?: Files; workspace?: { files: Files }; changes?: { files: Files } }

/** `record` with each version id it names replaced by the one `moved` maps it to; undefined when none moved. */
export function movedVersions<R extends VersionedRecord>(record: R, moved: ReadonlyMap<string, string>): R | undefined {
  let changed = false;
  const map = (files: Files) => Object.fromEntries(Object.entries(files).map(([path, v]) => {
    const now = v === null ? undefined : moved.get(v);
    if (now !== undefined) changed = true;
    return [path, now ?? v];
  }));
  const out: R = {
    ...record,
    ...(record.files ? { files: map(record.files) } : {}),
    ...(record.workspace ? { workspace: { ...record.workspace, files: map(record.workspace.files) } } : {}),
    ...(record.changes ? { changes: { ...record.changes, files: map(record.changes.files) } } : {}),
  };
  return changed ? out : undefined;
}

/**
 * Empties the bucket, then puts every saved version back in order (a delete marker as a
 * delete), and rewrites the records that name versions with the versions just written.
 */
export async function restoreS3(ctx: StackContext, dir: string): Promise<{ objects: number; moved: ReadonlyMap<string, string> }> {
  const objects = JSON.parse(readFileSync(join(dir, S3_DIR, 'index.json'), 'utf8')) as SavedObject[];
  const s3 = stackS3(ctx);
  const moved = new Map<string, string>();
  const latest = new Map<string, SavedObject>();
  try {
    await emptyBucket(s3, ctx.bucket);
    for (const o of objects) {
      latest.set(o.key, o);
      if (o.deleteMarker) {
        await s3.send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key: o.key }));
        continue;
      }
      const out = await s3.send(new PutObjectCommand({
        Bucket: ctx.bucket, Key: o.key, Body: readFileSync(join(dir, S3_DIR, o.file!)), ContentType: o.contentType, Metadata: o.metadata,
      }));
      if (o.versionId && o.versionId !== 'null' && out.VersionId && out.VersionId !== 'null') moved.set(o.versionId, out.VersionId);
    }
    for (const o of latest.values()) {
      if (o.deleteMarker || !VERSIONED_RECORD.test(o.key)) continue;
      const now = movedVersions(JSON.parse(readFileSync(join(dir, S3_DIR, o.file!), 'utf8')) as VersionedRecord, moved);
      if (now) await s3.send(new PutObjectCommand({ Bucket: ctx.bucket, Key: o.key, Body: JSON.stringify(now), ContentType: o.contentType, Metadata: o.metadata }));
    }
  } finally {
    s3.destroy();
  }
  return { objects: objects.filter((o) => !o.deleteMarker).length, moved };
}

/**
 * The step records the database keeps (agent_step_results, since 1796400000000) rewritten
 * as restoreS3 rewrites the bucket's, with the versions `moved` maps to; answers how many.
 */
export async function moveStepResults(db: pg.Client, moved: ReadonlyMap<string, string>): Promise<number> {
  if (moved.size === 0) return 0;
  type Row = { run_id: string; step_index: number; epoch: string; record: string };
  let after: [string, number, string] = ['', -1, ''];
  let rewritten = 0;
  for (;;) {
    const page = await db.query<Row>(
      `SELECT run_id, step_index, epoch, record FROM agent_step_results WHERE (run_id, step_index, epoch) > ($1, $2, $3)
        ORDER BY run_id, step_index, epoch LIMIT 500`, after);
    for (const r of page.rows) {
      const now = movedVersions(JSON.parse(r.record) as VersionedRecord, moved);
      if (!now) continue;
      await db.query('UPDATE agent_step_results SET record = $4 WHERE run_id = $1 AND step_index = $2 AND epoch = $3', [r.run_id, r.step_index, r.epoch, JSON.stringify(now)]);
      rewritten++;
    }
    if (page.rows.length < 500) return rewritten;
    const last = page.rows.at(-1)!;
    after = [last.run_id, last.step_index, last.epoch];
  }
}
