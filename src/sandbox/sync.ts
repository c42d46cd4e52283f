/**
 * Moves a workspace between S3 and a local directory: `pull` before a command
 * runs, `push` after it. Pushes are conditional — a file the command changed
 * is written only if S3 still holds the version that was pulled (If-Match),
 * a new file only if none appeared meanwhile (If-None-Match: *) — so a late or
 * retried execution never clobbers newer content.
 */
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import {
  DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { isNotFound, isPreconditionFailed } from '../infra/s3.ts';
import { contentTypeFor } from '../shared/content-type.ts';
import { checkWorkspacePath, InvalidPathError } from '../shared/workspace-path.ts';
import type { ChangedFile } from './types.ts';
import { sha256Hex } from '../shared/hash.ts';

export interface PulledFile { etag: string; sha256: string; bytes: number }
export type Snapshot = Map<string, PulledFile>;

export interface SyncTarget { s3: S3Client; bucket: string; prefix: string }

/** Thrown when S3 holds newer content than the command started from. */
export class WorkspaceConflictError extends Error {
  readonly path: string;
  constructor(path: string) {
    super(`workspace file ${path} changed in S3 while the command ran; not overwritten`);
    this.name = 'WorkspaceConflictError';
    this.path = path;
  }
}

export async function pull(t: SyncTarget, dir: string, maxBytes: number): Promise<Snapshot> {
  const snap: Snapshot = new Map();
  let token: string | undefined;
  let total = 0;
  do {
    const page = await t.s3.send(new ListObjectsV2Command({ Bucket: t.bucket, Prefix: t.prefix, ContinuationToken: token }));
    for (const obj of page.Contents ?? []) {
      if (!obj.Key) continue;
      let rel: string;
      try {
        rel = checkWorkspacePath(obj.Key.slice(t.prefix.length));
      } catch (err) {
        if (err instanceof InvalidPathError) continue; // never materialise an unsafe name
        throw err;
      }
      total += obj.Size ?? 0;
      if (total > maxBytes) throw new Error(`workspace is larger than ${maxBytes} bytes`);
      const res = await t.s3.send(new GetObjectCommand({ Bucket: t.bucket, Key: obj.Key }));
      const body = Buffer.from(await res.Body!.transformToByteArray());
      const file = join(dir, ...rel.split('/'));
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, body);
      snap.set(rel, { etag: res.ETag ?? obj.ETag ?? '', sha256: sha256Hex(body), bytes: body.length });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return snap;
}

interface LocalFile { rel: string; abs: string }

async function walk(dir: string, root: string, out: LocalFile[], skipped: { path: string; reason: string }[]): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const abs = join(dir, entry.name);
    const rel = relative(root, abs).split(sep).join('/');
    // lstat: a symlink is never followed (it could point anywhere on the host or pod).
    const st = await lstat(abs);
    if (st.isSymbolicLink()) { skipped.push({ path: rel, reason: 'symbolic link' }); continue; }
    if (st.isDirectory()) { await walk(abs, root, out, skipped); continue; }
    if (!st.isFile()) { skipped.push({ path: rel, reason: 'not a regular file' }); continue; }
    out.push({ rel, abs });
  }
}

/** The hash of what S3 holds at a key now, or undefined when absent. */
async function currentHash(t: SyncTarget, key: string): Promise<string | undefined> {
  try {
    const res = await t.s3.send(new GetObjectCommand({ Bucket: t.bucket, Key: key }));
    return sha256Hex(Buffer.from(await res.Body!.transformToByteArray()));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function headEtag(t: SyncTarget, key: string): Promise<string | undefined> {
  try {
    return (await t.s3.send(new HeadObjectCommand({ Bucket: t.bucket, Key: key }))).ETag ?? '';
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Writes the files the command added or changed and deletes the ones it
 * removed, each only if S3 still holds what was pulled. A push that finds its
 * own content already there (a repeated push of the same execution) counts it
 * as done; anything else newer is a conflict, and the newer content stays.
 */
export async function push(
  t: SyncTarget, dir: string, snap: Snapshot, maxFileBytes: number,
): Promise<{ changed: ChangedFile[]; skipped: { path: string; reason: string }[] }> {
  const files: LocalFile[] = [];
  const skipped: { path: string; reason: string }[] = [];
  await walk(dir, dir, files, skipped);
  const changed: ChangedFile[] = [];
  // Paths still present locally in some form (synced or skipped): never deleted from S3.
  const seen = new Set<string>(skipped.map((s) => s.path));
  for (const f of files) {
    let rel: string;
    try {
      rel = checkWorkspacePath(f.rel);
    } catch (err) {
      if (err instanceof InvalidPathError) { skipped.push({ path: f.rel, reason: err.reason }); continue; }
      throw err;
    }
    seen.add(rel);
    const st = await lstat(f.abs);
    if (st.size > maxFileBytes) { skipped.push({ path: rel, reason: `larger than ${maxFileBytes} bytes` }); continue; }
    let body: Buffer;
    try {
      body = await readFile(f.abs);
    } catch (err) {
      // The command may leave a file it made unreadable (chmod 000): report it, do not fail the push.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') { skipped.push({ path: rel, reason: 'not readable' }); continue; }
      throw err;
    }
    const before = snap.get(rel);
    const hash = sha256Hex(body);
    if (before && before.sha256 === hash) continue;
    const key = t.prefix + rel;
    try {
      await t.s3.send(new PutObjectCommand({
        Bucket: t.bucket, Key: key, Body: body, ContentLength: body.length, ContentType: contentTypeFor(rel),
        ...(before ? { IfMatch: before.etag } : { IfNoneMatch: '*' }),
      }));
    } catch (err) {
      if (!isPreconditionFailed(err)) throw err;
      if ((await currentHash(t, key)) !== hash) throw new WorkspaceConflictError(rel);
    }
    changed.push({ path: rel, change: before ? 'modified' : 'added', bytes: body.length });
  }
  for (const [rel, before] of snap) {
    if (seen.has(rel)) continue;
    const key = t.prefix + rel;
    // Delete only what was pulled. S3 honours If-Match on DELETE; MinIO ignores it, so look first.
    const etag = await headEtag(t, key);
    if (etag !== undefined && etag !== before.etag) throw new WorkspaceConflictError(rel);
    if (etag !== undefined) {
      try {
        await t.s3.send(new DeleteObjectCommand({ Bucket: t.bucket, Key: key, IfMatch: etag }));
      } catch (err) {
        if (isPreconditionFailed(err)) throw new WorkspaceConflictError(rel);
        if (!isNotFound(err)) throw err;
      }
    }
    changed.push({ path: rel, change: 'deleted', bytes: 0 });
  }
  return { changed, skipped };
}
