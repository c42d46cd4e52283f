/**
 * The shapes a working copy of a workspace passes between the workspace store
 * (src/workspace, which pulls and pushes it) and the sandbox (src/sandbox, which
 * runs a command in it). Types only.
 */

/** A file as it was pulled: the version S3 held and the content's hash. */
export interface PulledFile { etag: string; sha256: string; bytes: number }

/** What a pull brought down, by workspace path: a push writes only over these versions. */
export type Snapshot = Map<string, PulledFile>;

export interface ChangedFile {
  path: string;
  change: 'added' | 'modified' | 'deleted';
  bytes: number;
}

/** A file the command left that was not synced back, and why (symlink, device, unsafe name, too large). */
export interface SkippedFile { path: string; reason: string }

export interface PushResult { changed: ChangedFile[]; skipped: SkippedFile[] }
