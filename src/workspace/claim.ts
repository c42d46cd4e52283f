/**
 * Reusable workspaces: a run may work in the files of an earlier run of the same
 * user (`workspaceId`). Keys stay under `users/{userId}/runs/{workspaceRunId}/files/`.
 *
 * Claiming and the retention sweep coordinate through two markers, so a workspace
 * is never deleted under a run that was just given it:
 *   claim:  write `workspace-users/{runId}`, then look for the tombstone (refuse when present);
 *   sweep:  write the tombstone, then look for users (back off when one is live).
 * With S3's read-after-write consistency at least one side sees the other's marker.
 */
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { isNotFound } from '../infra/s3.ts';
import { s3Keys } from '../shared/names.ts';
import type { Store } from '../store/types.ts';

export interface WorkspaceDeps {
  s3: S3Client;
  bucket: string;
  store: Pick<Store, 'getRun'>;
}

/** Why a workspace cannot be used; the API maps `kind` to 404 / 410. */
export class WorkspaceUnavailableError extends Error {
  readonly kind: 'not_found' | 'deleted';
  readonly workspaceId: string;
  constructor(kind: 'not_found' | 'deleted', workspaceId: string, message: string) {
    super(message);
    this.name = 'WorkspaceUnavailableError';
    this.kind = kind;
    this.workspaceId = workspaceId;
  }
}

async function exists(deps: WorkspaceDeps, key: string): Promise<boolean> {
  try {
    await deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: key }));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** The workspace a run works in: its own, or the one its `workspace.json` link names. */
export async function workspaceOf(deps: WorkspaceDeps, userId: string, runId: string): Promise<string> {
  try {
    const res = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: s3Keys.workspaceLink(userId, runId) }));
    const link = JSON.parse((await res.Body?.transformToString('utf8')) ?? '{}') as { workspaceId?: string };
    return typeof link.workspaceId === 'string' ? link.workspaceId : runId;
  } catch (err) {
    if (isNotFound(err)) return runId;
    throw err;
  }
}

/** Throws WorkspaceUnavailableError (`not_found`) unless `requested` is a run of `userId`: checked before a run is admitted, so a refused request leaves no record. */
export async function assertWorkspaceOwner(deps: WorkspaceDeps, userId: string, requested: string): Promise<void> {
  const record = await deps.store.getRun(requested);
  if (!record || record.user_id !== userId) {
    throw new WorkspaceUnavailableError('not_found', requested, `workspaceId: run ${requested} not found (a workspace must be an earlier run of yours)`);
  }
}

/**
 * Gives run `runId` of `userId` the workspace of `requested` (an earlier run of the
 * same user; when that run itself worked in another run's workspace, that one).
 * Returns the workspace id. Throws WorkspaceUnavailableError for a run that does not
 * exist or is another user's (the same answer, so ids of other users' runs leak nothing)
 * and for a workspace the retention sweep deleted; other errors are outages.
 */
export async function claimWorkspace(deps: WorkspaceDeps, userId: string, runId: string, requested: string): Promise<string> {
  await assertWorkspaceOwner(deps, userId, requested);
  const workspaceId = await workspaceOf(deps, userId, requested);
  const marker = s3Keys.workspaceUser(userId, workspaceId, runId);
  await deps.s3.send(new PutObjectCommand({
    Bucket: deps.bucket, Key: marker, Body: JSON.stringify({ runId, at: new Date().toISOString() }), ContentType: 'application/json',
  }));
  if (await exists(deps, s3Keys.workspaceTombstone(userId, workspaceId))) {
    await deps.s3.send(new DeleteObjectCommand({ Bucket: deps.bucket, Key: marker }));
    throw new WorkspaceUnavailableError('deleted', requested, `workspaceId: the workspace of run ${requested} was deleted by the retention policy`);
  }
  if (workspaceId !== runId) {
    await deps.s3.send(new PutObjectCommand({
      Bucket: deps.bucket, Key: s3Keys.workspaceLink(userId, runId), Body: JSON.stringify({ workspaceId }), ContentType: 'application/json',
    }));
  }
  return workspaceId;
}
