/**
 * A run's workspace files: listing and download for the run's owner, and the workspace
 * work of a start (reusing an earlier run's workspace, putting a large prompt there).
 * Through the WorkspaceStore (src/workspace), the only owner of workspace I/O.
 */
import type { Readable } from 'node:stream';
import { FileNotFound, InvalidInput, InvalidPath, Unavailable, WorkspaceDeleted, WorkspaceNotFound } from './errors.ts';
import type { RunsDeps, WorkspaceFile } from './model.ts';
import { ownedRun } from './ownership.ts';
import { s3Keys } from '../shared/names.ts';
import { checkWorkspacePath, InvalidPathError } from '../shared/workspace-path.ts';
import { InvalidCursorError, WorkspaceUnavailableError } from '../workspace/index.ts';

type FilesDeps = Pick<RunsDeps, 'workspace' | 'store' | 'temporal'>;

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

/** Refuses a workspace to reuse that is not an earlier run of the user's (before anything is recorded). */
export async function checkReusableWorkspace(deps: FilesDeps, userId: string, workspaceId: string): Promise<void> {
  await workspaceCall(() => deps.workspace.assertOwner(deps.store, userId, workspaceId));
}

/** Claims an earlier run's workspace for run `runId`; the workspace id the run works in. */
export async function claimReusedWorkspace(deps: FilesDeps, userId: string, runId: string, workspaceId: string): Promise<string> {
  return workspaceCall(() => deps.workspace.claim(deps.store, userId, runId, workspaceId));
}

/** Puts a prompt too large for workflow history into the run's workspace; the key the run reads it from. */
export async function putLargePrompt(deps: FilesDeps, userId: string, runId: string, prompt: string): Promise<string> {
  const key = s3Keys.prompt(userId, runId);
  try {
    await deps.workspace.put(key, prompt, { contentType: 'text/plain; charset=utf-8' });
  } catch (err) {
    throw new Unavailable(S3, err);
  }
  return key;
}

/** The workspace a run of the caller works in (its own, or the earlier run's it reused). */
async function workspaceOfOwned(deps: FilesDeps, userId: string, id: string): Promise<string> {
  await ownedRun(deps, userId, id);
  try {
    return await deps.workspace.workspaceOf(userId, id);
  } catch (err) {
    throw new Unavailable(S3, err);
  }
}

/** One page of the files in the run's workspace, in key order. */
export async function listFiles(deps: FilesDeps, userId: string, id: string, q: { cursor?: string; limit: number }): Promise<{ workspaceId: string; files: WorkspaceFile[]; nextCursor?: string }> {
  const workspaceId = await workspaceOfOwned(deps, userId, id);
  try {
    return { workspaceId, ...await deps.workspace.listFiles(userId, workspaceId, q) };
  } catch (err) {
    if (err instanceof InvalidCursorError) throw new InvalidInput('cursor', 'is not a cursor of this listing');
    throw new Unavailable(S3, err);
  }
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
  let opened: OpenedFile | undefined;
  try {
    opened = await deps.workspace.openFile(userId, workspaceId, path);
  } catch (err) {
    throw new Unavailable(S3, err);
  }
  if (!opened) throw new FileNotFound(id, path);
  return opened;
}
