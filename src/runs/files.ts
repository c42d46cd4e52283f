/**
 * A run's workspace files: listing and download for the run's owner, and the workspace
 * work of a start (reusing an earlier run's workspace, putting a large prompt there).
 * The only file of src/runs that talks to S3 about workspaces.
 */
// lead: switch to WorkspaceStore at merge
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { FileNotFound, InvalidInput, InvalidPath, Unavailable, WorkspaceDeleted, WorkspaceNotFound } from './errors.ts';
import type { RunsDeps, WorkspaceFile } from './model.ts';
import { ownedRun } from './ownership.ts';
import { isNotFound } from '../infra/s3.ts';
import { contentTypeFor } from '../shared/content-type.ts';
import { s3Keys } from '../shared/names.ts';
import { checkWorkspacePath, InvalidPathError } from '../shared/workspace-path.ts';
import { assertWorkspaceOwner, claimWorkspace, workspaceOf, WorkspaceUnavailableError } from '../workspace/claim.ts';

type FilesDeps = Pick<RunsDeps, 's3' | 'bucket' | 'store' | 'temporal'>;

const S3 = 'the workspace store (S3)';

/** A workspace claim: WorkspaceNotFound when there is no such run of the user's, WorkspaceDeleted when it was deleted. */
async function workspaceCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof WorkspaceUnavailableError) {
      throw err.kind === 'deleted' ? new WorkspaceDeleted(err.message, err) : new WorkspaceNotFound(err.message, err);
    }
    throw new Unavailable(`the database or ${S3}`, err);
  }
}

const claimDeps = (deps: FilesDeps) => ({ s3: deps.s3, bucket: deps.bucket, store: deps.store });

/** Refuses a workspace to reuse that is not an earlier run of the user's (before anything is recorded). */
export async function checkReusableWorkspace(deps: FilesDeps, userId: string, workspaceId: string): Promise<void> {
  await workspaceCall(() => assertWorkspaceOwner(claimDeps(deps), userId, workspaceId));
}

/** Claims an earlier run's workspace for run `runId`; the workspace id the run works in. */
export async function claimReusedWorkspace(deps: FilesDeps, userId: string, runId: string, workspaceId: string): Promise<string> {
  return workspaceCall(() => claimWorkspace(claimDeps(deps), userId, runId, workspaceId));
}

/** Puts a prompt too large for workflow history into the run's workspace; the key the run reads it from. */
export async function putLargePrompt(deps: FilesDeps, userId: string, runId: string, prompt: string): Promise<string> {
  const key = `${s3Keys.runPrefix(userId, runId)}.agentrun/prompt.txt`;
  try {
    await deps.s3.send(new PutObjectCommand({ Bucket: deps.bucket, Key: key, Body: prompt, ContentType: 'text/plain; charset=utf-8' }));
  } catch (err) {
    throw new Unavailable(S3, err);
  }
  return key;
}

/** The workspace a run of the caller works in (its own, or the earlier run's it reused). */
async function workspaceOfOwned(deps: FilesDeps, userId: string, id: string): Promise<string> {
  await ownedRun(deps, userId, id);
  try {
    return await workspaceOf(claimDeps(deps), userId, id);
  } catch (err) {
    throw new Unavailable(S3, err);
  }
}

/** One page of the files in the run's workspace, in key order. */
export async function listFiles(deps: FilesDeps, userId: string, id: string, q: { cursor?: string; limit: number }): Promise<{ workspaceId: string; files: WorkspaceFile[]; nextCursor?: string }> {
  const workspaceId = await workspaceOfOwned(deps, userId, id);
  const prefix = s3Keys.workspaceFiles(userId, workspaceId);
  let res: ListObjectsV2CommandOutput;
  try {
    res = await deps.s3.send(new ListObjectsV2Command({ Bucket: deps.bucket, Prefix: prefix, ContinuationToken: q.cursor, MaxKeys: q.limit }));
  } catch (err) {
    if ((err as { name?: string }).name === 'InvalidArgument') throw new InvalidInput('cursor', 'is not a cursor of this listing');
    throw new Unavailable(S3, err);
  }
  const files = (res.Contents ?? []).filter((o) => o.Key).map((o): WorkspaceFile => {
    const path = o.Key!.slice(prefix.length);
    return { path, size: o.Size ?? 0, lastModified: o.LastModified?.toISOString(), etag: o.ETag, contentType: contentTypeFor(path) };
  });
  return { workspaceId, files, nextCursor: res.IsTruncated ? res.NextContinuationToken : undefined };
}

export interface OpenedFile { path: string; body: Readable; size?: number; contentType: string; etag?: string; lastModified?: Date }

/** Opens a workspace file of the run for download: InvalidPath for an unsafe path, FileNotFound for a missing file. */
export async function openFile(deps: FilesDeps, userId: string, id: string, rawPath: string): Promise<OpenedFile> {
  let path: string;
  try {
    path = checkWorkspacePath(rawPath);
  } catch (err) {
    if (err instanceof InvalidPathError) throw new InvalidPath(err.message, err);
    throw err;
  }
  const workspaceId = await workspaceOfOwned(deps, userId, id);
  try {
    const res = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: s3Keys.file(userId, workspaceId, path) }));
    return { path, body: res.Body as Readable, size: res.ContentLength, contentType: res.ContentType ?? contentTypeFor(path), etag: res.ETag, lastModified: res.LastModified };
  } catch (err) {
    if (isNotFound(err)) throw new FileNotFound(id, path);
    throw new Unavailable(S3, err);
  }
}
