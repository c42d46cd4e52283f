/**
 * Workspace manifests, for forks: after each step, the version of every file the
 * workspace holds (S3 version ids: the bucket keeps versions; no copy of any file is
 * made), and a new workspace made from such a manifest with server-side copies. A bucket
 * without versioning answers the version `null`: such a manifest cannot be forked from.
 * Most steps record only their changes (no listing); a fork adds them up from the
 * nearest whole manifest, or from the workspace's start (s3Keys.workspaceBase).
 */
import { CopyObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { s3Keys } from '../shared/names.ts';
import type { StepResult } from '../shared/run.ts';
import type { WriteJournal } from './objects.ts';

/** The workspace `id` after a step: each file's path and version (null: the bucket keeps no versions). */
export interface WorkspaceManifest { id: string; files: Record<string, string | null> }

/** What a step changed in workspace `id`: the files it wrote (at their versions) and those it deleted. */
export interface WorkspaceChanges { id: string; files: Record<string, string | null>; deleted: string[] }

/**
 * A step's record: its result, its output's tail, and the workspace after it — whole
 * (`workspace`, listed after a sandboxed step, whose writes the worker does not see) or as
 * the step's `changes` (noted from the writes' own answers). Kept by the database with the
 * step's end; one too large for that (STEP_RECORD_ROW_MAX_BYTES), and those of steps that
 * ended before the database kept them, are S3 objects (s3Keys.stepRecord).
 */
export type StepRecord = StepResult & { outputTail?: string; workspace?: WorkspaceManifest; changes?: WorkspaceChanges };

/** A record larger than this (as JSON) is an S3 object instead of part of the step's last row. */
export const STEP_RECORD_ROW_MAX_BYTES = 256 * 1024;

/** Where step records are read: the database's step results, and the workspace's objects. */
export interface StepRecordSources {
  db: { stepResult(runId: string, index: number, epoch?: string): Promise<unknown> };
  objects: { getJson<T>(key: string): Promise<T | undefined> };
}

/** Step `index`'s record as the execution of `epoch` kept it: the database's, else the S3 object; undefined when neither has it. */
export async function readStepRecord(from: StepRecordSources, userId: string, runId: string, index: number, epoch?: string): Promise<StepRecord | undefined> {
  const kept = (await from.db.stepResult(runId, index, epoch)) as StepRecord | undefined;
  return kept ?? from.objects.getJson<StepRecord>(s3Keys.stepRecord(userId, runId, index, epoch));
}

/** The changes a step's journal (see ObjectStore.journaled) noted in workspace `id`. */
export function changesOf(id: string, journal: WriteJournal): WorkspaceChanges {
  const changes: WorkspaceChanges = { id, files: {}, deleted: [] };
  for (const [path, version] of journal.files) {
    if (version === false) changes.deleted.push(path);
    else changes.files[path] = version;
  }
  return changes;
}

/** `manifest` after `changes`, applied oldest first. */
export function applyChanges(manifest: WorkspaceManifest, changes: WorkspaceChanges[]): WorkspaceManifest {
  const files = { ...manifest.files };
  for (const c of changes) {
    for (const path of c.deleted) delete files[path];
    Object.assign(files, c.files);
  }
  return { id: manifest.id, files };
}

/** Files per manifest at most: a workspace larger than this is not listed for forks. */
export const MANIFEST_MAX_FILES = 10_000;

/** The current version of every file of workspace `workspaceId`; undefined when it holds more than MANIFEST_MAX_FILES. */
export async function manifestOf(s3: S3Client, bucket: string, userId: string, workspaceId: string): Promise<WorkspaceManifest | undefined> {
  const prefix = s3Keys.workspaceFiles(userId, workspaceId);
  const files: Record<string, string | null> = {};
  let count = 0;
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  do {
    const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
    for (const v of page.Versions ?? []) {
      if (!v.IsLatest || !v.Key) continue;
      files[v.Key.slice(prefix.length)] = v.VersionId && v.VersionId !== 'null' ? v.VersionId : null;
      if (++count > MANIFEST_MAX_FILES) return undefined;
    }
    // A delete marker that is latest: the file is gone (its older versions are not listed as latest).
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
  } while (keyMarker !== undefined);
  return { id: workspaceId, files };
}

/**
 * Copies each file of `manifest` at its version into workspace `toWorkspaceId` (server-side
 * copies); answers the new workspace's manifest, the copies' versions.
 */
export async function copyManifest(s3: S3Client, bucket: string, userId: string, manifest: WorkspaceManifest, toWorkspaceId: string): Promise<WorkspaceManifest> {
  const from = s3Keys.workspaceFiles(userId, manifest.id);
  const to = s3Keys.workspaceFiles(userId, toWorkspaceId);
  const entries = Object.entries(manifest.files);
  const files: Record<string, string | null> = {};
  for (let i = 0; i < entries.length; i += 8) {
    await Promise.all(entries.slice(i, i + 8).map(async ([path, version]) => {
      const out = await s3.send(new CopyObjectCommand({
        Bucket: bucket, Key: to + path,
        CopySource: `${bucket}/${(from + path).split('/').map(encodeURIComponent).join('/')}${version ? `?versionId=${encodeURIComponent(version)}` : ''}`,
      }));
      files[path] = out.VersionId && out.VersionId !== 'null' ? out.VersionId : null;
    }));
  }
  return { id: toWorkspaceId, files };
}
