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
import { s3Keys } from '../shared/names.ts';
import type { RunStatus } from '../shared/run.ts';
import { WorkspaceUnavailableError } from './errors.ts';
import type { ObjectStore } from './objects.ts';

export { WorkspaceUnavailableError };

/** What the workspace needs to know of a run record (src/store's Store satisfies it). */
export interface RunLookup {
  getRun(id: string): Promise<{ user_id: string; status: RunStatus; finished_at: string | null; updated_at: string } | undefined>;
}

/** The workspace a run works in: its own, or the one its `workspace.json` link names. */
export async function linkedWorkspace(objects: ObjectStore, userId: string, runId: string): Promise<string> {
  const link = await objects.getJson<{ workspaceId?: unknown }>(s3Keys.workspaceLink(userId, runId));
  return typeof link?.workspaceId === 'string' ? link.workspaceId : runId;
}

/** Throws WorkspaceUnavailableError (`not_found`) unless `requested` is a run of `userId`: checked before a run is admitted, so a refused request leaves no record. */
export async function assertOwner(runs: RunLookup, userId: string, requested: string): Promise<void> {
  const record = await runs.getRun(requested);
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
export async function claim(objects: ObjectStore, runs: RunLookup, userId: string, runId: string, requested: string): Promise<string> {
  await assertOwner(runs, userId, requested);
  const workspaceId = await linkedWorkspace(objects, userId, requested);
  const marker = s3Keys.workspaceUser(userId, workspaceId, runId);
  await objects.putJson(marker, { runId, at: new Date().toISOString() });
  if (await objects.exists(s3Keys.workspaceTombstone(userId, workspaceId))) {
    await objects.delete(marker);
    throw new WorkspaceUnavailableError('deleted', requested, `workspaceId: the workspace of run ${requested} was deleted by the retention policy`);
  }
  if (workspaceId !== runId) await objects.putJson(s3Keys.workspaceLink(userId, runId), { workspaceId });
  return workspaceId;
}
