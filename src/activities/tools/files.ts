/** write_file / read_file against the run's S3 workspace. */
import { CopyObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { ActivityDeps } from '../deps.ts';
import { FAILURE_TYPES, nonRetryable } from '../errors.ts';
import { isNotFound } from '../../infra/s3.ts';
import { s3Keys } from '../../shared/names.ts';
import { checkWorkspacePath, InvalidPathError } from '../../shared/workspace-path.ts';

export interface FileTarget { userId: string; runId: string; path: string }

export const READ_PREVIEW_CHARS = 4000;

function safeKey(t: FileTarget): string {
  try {
    return s3Keys.file(t.userId, t.runId, checkWorkspacePath(t.path));
  } catch (err) {
    if (err instanceof InvalidPathError) throw nonRetryable(FAILURE_TYPES.invalidPath, err.message, { path: err.path, reason: err.reason });
    throw err;
  }
}

export async function writeFile(deps: ActivityDeps, t: FileTarget, content: string): Promise<{ key: string; bytes: number }> {
  const key = safeKey(t);
  const body = Buffer.from(content, 'utf8');
  await deps.s3.send(new PutObjectCommand({ Bucket: deps.bucket, Key: key, Body: body, ContentType: 'text/plain; charset=utf-8' }));
  return { key, bytes: body.length };
}

/** Server-side copy of out-of-line plan content to its destination path. */
export async function copyFile(deps: ActivityDeps, fromKey: string, t: FileTarget): Promise<{ key: string; bytes: number }> {
  const key = safeKey(t);
  if (!fromKey.startsWith(s3Keys.runPrefix(t.userId, t.runId))) throw nonRetryable(FAILURE_TYPES.invalidPath, `content reference outside the run: ${fromKey}`);
  await deps.s3.send(new CopyObjectCommand({ Bucket: deps.bucket, Key: key, CopySource: `${deps.bucket}/${encodeURIComponent(fromKey).replace(/%2F/g, '/')}` }));
  const head = await deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: key }));
  return { key, bytes: head.ContentLength ?? 0 };
}

export async function readFile(deps: ActivityDeps, t: FileTarget): Promise<{ key: string; bytes: number; preview: string }> {
  const key = safeKey(t);
  try {
    const res = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key }));
    const text = (await res.Body?.transformToString('utf8')) ?? '';
    return { key, bytes: Buffer.byteLength(text), preview: text.slice(0, READ_PREVIEW_CHARS) };
  } catch (err) {
    if (isNotFound(err)) throw nonRetryable(FAILURE_TYPES.fileNotFound, `no file ${t.path} in the run's workspace`, { path: t.path });
    throw err;
  }
}
