/**
 * The file tools against a run's S3 workspace: write, read, list, stat, delete.
 *
 * Every path goes through `checkWorkspacePath` and `keyUnder`, so no key is built
 * from an unchecked string. Files are capped at WORKSPACE_FILE_MAX_BYTES. Writes go
 * through the WorkspaceStore (one PUT for small bodies, a multipart upload for large
 * ones) and are conditional, so a retried step can never clobber newer content:
 *
 * - a step first tries to create the file (`If-None-Match: *`: one request, the common
 *   case); when a file is there, it records what it observed (its ETag) in an intent
 *   record under the run's `.agentrun/steps/`, written once (If-None-Match), and a
 *   retried attempt reuses that observation instead of looking again;
 * - the write carries `If-None-Match: *` (the file was absent) or `If-Match: <etag>`
 *   (the version observed), so it lands only on the version the step saw;
 * - a 412 is either this step's own earlier attempt (the object's metadata names the
 *   step and the content hash matches: the write already happened, success) or a
 *   newer writer (non-retryable `WriteConflict`: the newer content is kept).
 */
import type { ActivityDeps } from '../deps.ts';
import { FAILURE_TYPES, nonRetryable } from '../errors.ts';
import { contentTypeFor } from '../../shared/content-type.ts';
import { s3Keys } from '../../shared/names.ts';
import { checkWorkspacePath, InvalidPathError, keyUnder } from '../../shared/workspace-path.ts';
import { sha256Hex } from '../../shared/hash.ts';
import { UPLOAD_PART_BYTES } from '../../workspace/objects.ts';
import type { ObjectInfo } from '../../workspace/objects.ts';

/** Where file tools work: the executing run, and the run whose workspace files it uses (often itself). */
export interface Workspace { userId: string; runId: string; workspaceId: string }

export const READ_PREVIEW_CHARS = 4000;
/** Bytes a read_file fetches at most: enough for READ_PREVIEW_CHARS characters of UTF-8 (up to 4 bytes each), whatever the file's size. */
export const READ_PREVIEW_BYTES = READ_PREVIEW_CHARS * 4;
/** Entries a list_files step reports (its summary says when there were more). */
export const LIST_MAX_FILES = 1000;

/** Object metadata written with every file (S3 lower-cases the names). */
const META_WRITER = 'agentrun-writer';
const META_SHA256 = 'agentrun-sha256';

function checked(path: string, allowTrailingSlash = false): string {
  try {
    return checkWorkspacePath(allowTrailingSlash && path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path);
  } catch (err) {
    if (err instanceof InvalidPathError) throw nonRetryable(FAILURE_TYPES.invalidPath, err.message, { path: err.path, reason: err.reason });
    throw err;
  }
}

function filesPrefix(ws: Workspace): string {
  return s3Keys.workspaceFiles(ws.userId, ws.workspaceId);
}

/** The object key of a workspace path; throws a non-retryable InvalidPath failure for unsafe paths. */
export function fileKey(ws: Workspace, path: string): string {
  return keyUnder(filesPrefix(ws), checked(path));
}

function tooLarge(path: string, bytes: number, maxBytes: number, what: string) {
  return nonRetryable(FAILURE_TYPES.fileTooLarge, `${what} ${path} is ${bytes} bytes, over the ${maxBytes}-byte limit (WORKSPACE_FILE_MAX_BYTES)`, { path, bytes, maxBytes });
}

interface Observed { etag: string | null }

/** What an earlier attempt of the step recorded it saw of `key`; undefined when none did. */
async function storedObservation(deps: ActivityDeps, key: string, intentKey: string | undefined): Promise<Observed | undefined> {
  const got = intentKey ? await deps.workspace.getJson<Partial<Observed> & { key?: string }>(intentKey) : undefined;
  return got?.key === key && got.etag !== undefined ? { etag: got.etag } : undefined;
}

/**
 * Records once per step (If-None-Match on the intent record) that it saw `observed` of
 * `key`, so every retry writes under the same condition; answers the observation that
 * counts — an earlier one (a zombie attempt, or the run before a reset) if there is one.
 */
async function recordObservation(deps: ActivityDeps, key: string, intentKey: string | undefined, observed: Observed): Promise<Observed> {
  if (!intentKey) return observed;
  if (await deps.workspace.putJson(intentKey, { key, ...observed }, { ifAbsent: true })) return observed;
  return (await storedObservation(deps, key, intentKey)) ?? observed;
}

export interface WriteOptions {
  /** Identity of the writing step (`{runId}/{index}`), kept in the object's metadata. */
  writer: string;
  /** Intent record of the step (`s3Keys.stepIntent`); without one the write observes afresh. */
  intentKey?: string;
  /** Nothing of the step was written before (src/activities/steps.ts StepBook.fresh): no earlier attempt's intent to read first. */
  fresh?: boolean;
}

export interface WriteResult { key: string; bytes: number; etag: string; contentType: string; created: boolean; multipart: boolean }

/**
 * Writes `body` to `path`, conditionally (see the module comment). Most writes create a
 * file, so that is tried first with no look before it: `If-None-Match: *` either lands
 * (one request) or finds a file, which is then observed — or is this step's own earlier
 * create, which is success. An attempt that finds an earlier attempt's observation writes
 * under it.
 */
export async function writeFile(deps: ActivityDeps, ws: Workspace, path: string, body: Buffer, opts: WriteOptions): Promise<WriteResult> {
  const key = fileKey(ws, path);
  const maxBytes = deps.workspace.fileMaxBytes;
  if (body.length > maxBytes) throw tooLarge(path, body.length, maxBytes, 'content for');
  const sha256 = sha256Hex(body);
  const contentType = contentTypeFor(path);
  const multipart = body.length > UPLOAD_PART_BYTES;
  const metadata = { [META_WRITER]: opts.writer, [META_SHA256]: sha256 };
  const mine = (info: ObjectInfo | undefined): boolean => info?.metadata?.[META_WRITER] === opts.writer && info.metadata[META_SHA256] === sha256;
  const done = (etag: string, created: boolean): WriteResult => ({ key, bytes: body.length, etag, contentType, created, multipart });

  let observed = opts.fresh ? undefined : await storedObservation(deps, key, opts.intentKey);
  if (!observed) {
    const put = await deps.workspace.put(key, body, { contentType, metadata, condition: { ifAbsent: true } });
    if (put.written) return done(put.etag, true);
    const there = await deps.workspace.head(key);
    if (there && mine(there)) {
      // This step's own earlier attempt created it (an overwrite would have recorded an intent first).
      deps.workspace.noteVersion(key, there.version ?? null);
      return done(there.etag ?? '', true);
    }
    observed = await recordObservation(deps, key, opts.intentKey, { etag: there?.etag ?? null });
  }
  const created = observed.etag === null;
  const put = await deps.workspace.put(key, body, { contentType, metadata, condition: created ? { ifAbsent: true } : { ifMatch: observed.etag! } });
  if (put.written) return done(put.etag, created);
  const now = await deps.workspace.head(key);
  if (now && mine(now)) {
    // This step's own earlier attempt already wrote exactly this content.
    deps.workspace.noteVersion(key, now.version ?? null);
    return done(now.etag ?? '', created);
  }
  const was = created ? 'absent' : `at version ${observed.etag}`;
  const is = now ? `version ${now.etag ?? '?'}${now.metadata?.[META_WRITER] ? ` written by ${now.metadata[META_WRITER]}` : ''}` : 'deleted';
  throw nonRetryable(
    FAILURE_TYPES.writeConflict,
    `${path} changed since this step looked at it (it was ${was}, now ${is}); the newer content is kept`,
    { path, observedEtag: observed.etag, currentEtag: now?.etag ?? null },
  );
}

/** Writes out-of-line plan content (a `contentRef` under the run's prefix) to `path`. */
export async function writeFromRef(deps: ActivityDeps, ws: Workspace, fromKey: string, path: string, opts: WriteOptions): Promise<WriteResult> {
  if (!fromKey.startsWith(s3Keys.runPrefix(ws.userId, ws.runId))) throw nonRetryable(FAILURE_TYPES.invalidPath, `content reference outside the run: ${fromKey}`);
  const ref = await deps.workspace.open(fromKey);
  if (!ref) throw new Error(`the plan's content ${fromKey} is missing from the workspace`);
  if (ref.info.bytes > deps.workspace.fileMaxBytes) {
    ref.discard();
    throw tooLarge(path, ref.info.bytes, deps.workspace.fileMaxBytes, 'content for');
  }
  return writeFile(deps, ws, path, await ref.read(), opts);
}

export interface ReadResult {
  key: string;
  /** The file's size. */
  bytes: number;
  preview: string;
  /** Bytes actually fetched from S3 for the preview (at most READ_PREVIEW_BYTES). */
  fetchedBytes: number;
  contentType?: string;
  etag?: string;
}

/**
 * Reads the start of a file for its preview: one ranged GET of at most READ_PREVIEW_BYTES,
 * so a large file costs the worker the preview, not the file (the size comes from
 * Content-Range). Files over WORKSPACE_FILE_MAX_BYTES are refused as before.
 */
export async function readFile(deps: ActivityDeps, ws: Workspace, path: string): Promise<ReadResult> {
  const key = fileKey(ws, path);
  const got = await deps.workspace.open(key, { first: 0, last: READ_PREVIEW_BYTES - 1 });
  if (!got) throw nonRetryable(FAILURE_TYPES.fileNotFound, `no file ${path} in the run's workspace`, { path });
  const { bytes, contentType, etag } = got.info;
  if (bytes > deps.workspace.fileMaxBytes) {
    got.discard();
    throw tooLarge(path, bytes, deps.workspace.fileMaxBytes, 'file');
  }
  const head = await got.read();
  // A server that ignored the range sent the whole file (within the size limit checked above): only its start is kept.
  const fetched = head.subarray(0, READ_PREVIEW_BYTES);
  const preview = new TextDecoder('utf-8').decode(fetched).slice(0, READ_PREVIEW_CHARS);
  return { key, bytes, preview, fetchedBytes: head.byteLength, contentType, etag };
}

export interface FileInfo { path: string; bytes: number; lastModified?: string }
export interface ListResult { prefix: string; files: FileInfo[]; truncated: boolean; totalBytes: number }

/** Files under a directory of the workspace (all of them without `prefix`), in key order, up to LIST_MAX_FILES. */
export async function listFiles(deps: ActivityDeps, ws: Workspace, prefix?: string, maxFiles = LIST_MAX_FILES): Promise<ListResult> {
  const root = filesPrefix(ws);
  const dir = prefix === undefined ? '' : `${checked(prefix, true)}/`;
  const files: FileInfo[] = [];
  let totalBytes = 0;
  let cursor: string | undefined;
  let truncated = false;
  do {
    const page = await deps.workspace.listPage(root + dir, { cursor, limit: Math.min(1000, maxFiles - files.length + 1) });
    for (const o of page.objects) {
      if (!o.key.startsWith(root)) continue;
      if (files.length >= maxFiles) {
        truncated = true;
        break;
      }
      files.push({ path: o.key.slice(root.length), bytes: o.bytes, lastModified: o.lastModified?.toISOString() });
      totalBytes += o.bytes;
    }
    cursor = truncated ? undefined : page.nextCursor;
  } while (cursor);
  return { prefix: dir, files, truncated, totalBytes };
}

export type StatResult =
  | { path: string; exists: false }
  | { path: string; exists: true; bytes: number; contentType?: string; etag?: string; lastModified?: string };

/** Size, type, version and age of a file; a missing file is an answer (`exists: false`), not an error. */
export async function statFile(deps: ActivityDeps, ws: Workspace, path: string): Promise<StatResult> {
  const h = await deps.workspace.head(fileKey(ws, path));
  if (!h) return { path, exists: false };
  return { path, exists: true, bytes: h.bytes, contentType: h.contentType, etag: h.etag, lastModified: h.lastModified?.toISOString() };
}

/** Deletes a file; deleting a file that is not there succeeds (so a retried step is idempotent). */
export async function deleteFile(deps: ActivityDeps, ws: Workspace, path: string): Promise<{ key: string; existed: boolean }> {
  const key = fileKey(ws, path);
  return { key, existed: (await deps.workspace.delete(key)) === 'deleted' };
}
