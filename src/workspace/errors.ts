/** The workspace's errors: each says when it is thrown; callers map them (activities to Temporal failures, the API to HTTP). */

/** Thrown when a workspace cannot be used by a new run; the API maps `kind` to 404 / 410. */
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

/** Thrown by a push when S3 holds newer content than the command started from; the newer content stays. */
export class WorkspaceConflictError extends Error {
  readonly path: string;
  constructor(path: string) {
    super(`workspace file ${path} changed in S3 while the command ran; not overwritten`);
    this.name = 'WorkspaceConflictError';
    this.path = path;
  }
}

/** Thrown by a listing given a cursor that is not one of its own continuation tokens. */
export class InvalidCursorError extends Error {
  readonly cursor: string;
  constructor(cursor: string, options?: { cause?: unknown }) {
    super('cursor: is not a cursor of this listing', options);
    this.name = 'InvalidCursorError';
    this.cursor = cursor;
  }
}
