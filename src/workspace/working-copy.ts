/**
 * Moves a workspace between S3 and a local directory: `pull` before a command
 * runs, `push` after it. Pushes are conditional (see ./objects.ts) — a file the
 * command changed is written only if S3 still holds the version that was pulled,
 * a new file only if none appeared meanwhile — so a late or retried execution
 * never clobbers newer content.
 */
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { contentTypeFor } from '../shared/content-type.ts';
import { sha256Hex } from '../shared/hash.ts';
import type { ChangedFile, PushResult, SkippedFile, Snapshot } from '../shared/working-copy.ts';
import { checkWorkspacePath, InvalidPathError } from '../shared/workspace-path.ts';
import { WorkspaceConflictError } from './errors.ts';
import type { ObjectStore } from './objects.ts';

/** Downloads every file under `prefix` into `dir`; throws when they total more than `maxBytes`. */
export async function pull(objects: ObjectStore, prefix: string, dir: string, maxBytes: number): Promise<Snapshot> {
  const snap: Snapshot = new Map();
  let total = 0;
  for await (const page of objects.pages(prefix)) {
    for (const obj of page.objects) {
      let rel: string;
      try {
        rel = checkWorkspacePath(obj.key.slice(prefix.length));
      } catch (err) {
        if (err instanceof InvalidPathError) continue; // never materialise an unsafe name
        throw err;
      }
      total += obj.bytes;
      if (total > maxBytes) throw new Error(`workspace is larger than ${maxBytes} bytes`);
      const got = await objects.open(obj.key);
      if (!got) throw new Error(`workspace file ${rel} disappeared while it was pulled`);
      const body = await got.read();
      const file = join(dir, ...rel.split('/'));
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, body);
      snap.set(rel, { etag: got.info.etag ?? obj.etag ?? '', sha256: sha256Hex(body), bytes: body.length });
    }
  }
  return snap;
}

interface LocalFile { rel: string; abs: string }

async function walk(dir: string, root: string, out: LocalFile[], skipped: SkippedFile[]): Promise<void> {
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

/**
 * Writes the files the command added or changed and deletes the ones it
 * removed, each only if S3 still holds what was pulled. A push that finds its
 * own content already there (a repeated push of the same execution) counts it
 * as done; anything else newer is a conflict (WorkspaceConflictError), and the newer content stays.
 */
export async function push(objects: ObjectStore, prefix: string, dir: string, snap: Snapshot, maxFileBytes: number): Promise<PushResult> {
  const files: LocalFile[] = [];
  const skipped: SkippedFile[] = [];
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
    const key = prefix + rel;
    const put = await objects.put(key, body, { contentType: contentTypeFor(rel), condition: before ? { ifMatch: before.etag } : { ifAbsent: true } });
    if (!put.written) {
      const now = await objects.getBytes(key);
      if (now === undefined || sha256Hex(now) !== hash) throw new WorkspaceConflictError(rel);
    }
    changed.push({ path: rel, change: before ? 'modified' : 'added', bytes: body.length });
  }
  for (const [rel, before] of snap) {
    if (seen.has(rel)) continue;
    // Delete only what was pulled; a file already gone counts as deleted.
    if ((await objects.delete(prefix + rel, { ifMatch: before.etag })) === 'refused') throw new WorkspaceConflictError(rel);
    changed.push({ path: rel, change: 'deleted', bytes: 0 });
  }
  return { changed, skipped };
}
