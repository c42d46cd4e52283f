/**
 * WorkspaceStore: the one door to S3 for run workspaces and run records. The object
 * requests and the conditional-write rules are in ./objects.ts; this class adds what
 * the rest of agentrun does with them — working copies for the sandbox, claiming a
 * reusable workspace, the retention sweep, the event archive, the API's file views, and
 * the manifests forks are made from.
 */
import type { EventLog, StoredEvent } from '../infra/event-log.ts';
import { contentTypeFor } from '../shared/content-type.ts';
import { s3Keys } from '../shared/names.ts';
import type { PushResult, Snapshot } from '../shared/working-copy.ts';
import { checkWorkspacePath, keyUnder } from '../shared/workspace-path.ts';
import { archiveEvents, readArchive } from './archive.ts';
import { assertOwner, claim, linkedWorkspace, type RunLookup } from './claim.ts';
import { ObjectStore, type ObjectStoreOptions } from './objects.ts';
import { pruneWorkspaces, type RetentionDeps, type RetentionOptions, type RetentionReport } from './retention.ts';
import { copyManifest, manifestOf } from './versions.ts';
import type { WorkspaceManifest } from './versions.ts';
import { pull, push } from './working-copy.ts';

export interface WorkspaceStoreOptions extends ObjectStoreOptions {
  /** WORKSPACE_FILE_MAX_BYTES: the largest file the file tools write or read. */
  fileMaxBytes: number;
}

/** A file of a workspace as the API lists it. */
export interface WorkspaceFileEntry { path: string; size: number; lastModified?: string; etag?: string; contentType: string }

export class WorkspaceStore extends ObjectStore {
  readonly fileMaxBytes: number;

  constructor(opts: WorkspaceStoreOptions) {
    super(opts);
    this.fileMaxBytes = opts.fileMaxBytes;
  }

  /** Downloads the workspace files under `prefix` into `dir` (see ./working-copy.ts). */
  pull(prefix: string, dir: string, maxBytes: number): Promise<Snapshot> {
    return pull(this, prefix, dir, maxBytes);
  }

  /** Writes back what changed in `dir` since `snapshot`, conditionally; throws WorkspaceConflictError on newer content. */
  push(prefix: string, dir: string, snapshot: Snapshot, maxFileBytes: number): Promise<PushResult> {
    return push(this, prefix, dir, snapshot, maxFileBytes);
  }

  /** The workspace run `runId` works in: its own, or the earlier run's it reused. */
  workspaceOf(userId: string, runId: string): Promise<string> {
    return linkedWorkspace(this, userId, runId);
  }

  /** Throws WorkspaceUnavailableError unless `requested` is a run of `userId`. */
  assertOwner(runs: RunLookup, userId: string, requested: string): Promise<void> {
    return assertOwner(runs, userId, requested);
  }

  /** Gives run `runId` the workspace of `requested`; returns the workspace id (see ./claim.ts). */
  claim(runs: RunLookup, userId: string, runId: string, requested: string): Promise<string> {
    return claim(this, runs, userId, runId, requested);
  }

  /** One sweep of the retention policy (see ./retention.ts). */
  prune(runs: RunLookup, opts: RetentionOptions, log?: RetentionDeps['log']): Promise<RetentionReport> {
    return pruneWorkspaces({ objects: this, runs, log }, opts);
  }

  archiveEvents(events: Pick<EventLog, 'readAfter'>, userId: string, runId: string): Promise<number> {
    return archiveEvents(this, events, userId, runId);
  }

  readArchive(userId: string, runId: string, afterId: string | undefined): Promise<StoredEvent[] | undefined> {
    return readArchive(this, userId, runId, afterId);
  }

  /** The version of every file workspace `workspaceId` holds now (see ./versions.ts); undefined when too many to list. */
  manifest(userId: string, workspaceId: string): Promise<WorkspaceManifest | undefined> {
    return manifestOf(this.s3, this.bucket, userId, workspaceId);
  }

  /** Makes workspace `toWorkspaceId` hold the files of `manifest` at their versions; answers its manifest. */
  copyManifest(userId: string, manifest: WorkspaceManifest, toWorkspaceId: string): Promise<WorkspaceManifest> {
    return copyManifest(this.s3, this.bucket, userId, manifest, toWorkspaceId);
  }

  /** One page of a workspace's files, in key order; throws InvalidCursorError for a cursor not of this listing. */
  async listFiles(userId: string, workspaceId: string, q: { cursor?: string; limit: number }): Promise<{ files: WorkspaceFileEntry[]; nextCursor?: string }> {
    const prefix = s3Keys.workspaceFiles(userId, workspaceId);
    const page = await this.listPage(prefix, { cursor: q.cursor, limit: q.limit });
    const files = page.objects.map((o): WorkspaceFileEntry => {
      const path = o.key.slice(prefix.length);
      return { path, size: o.bytes, lastModified: o.lastModified?.toISOString(), etag: o.etag, contentType: contentTypeFor(path) };
    });
    return { files, nextCursor: page.nextCursor };
  }

  /**
   * Opens a workspace file for download; undefined when there is none. Throws InvalidPathError
   * for an unsafe path, before any request.
   */
  async openFile(userId: string, workspaceId: string, path: string) {
    const safe = checkWorkspacePath(path);
    const got = await this.open(keyUnder(s3Keys.workspaceFiles(userId, workspaceId), safe));
    if (!got) return undefined;
    const { info } = got;
    return { path: safe, body: got.stream(), size: info.bytes, contentType: info.contentType ?? contentTypeFor(safe), etag: info.etag, lastModified: info.lastModified };
  }
}
