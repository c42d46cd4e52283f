/**
 * src/workspace — the only module that talks to S3 about workspaces and run records:
 * `WorkspaceStore` (reads, conditional writes, listings, deletes; working copies pulled
 * and pushed for the sandbox; claiming a reusable workspace; the retention sweep and
 * its tombstones; the event archive). Every key it uses comes from `s3Keys`
 * (src/shared/names.ts) or a checked workspace path. Imports only shared and infra:
 * what it needs of run records it declares (`RunLookup`), and callers pass their store.
 */
export { WorkspaceStore, type WorkspaceFileEntry, type WorkspaceStoreOptions } from './store.ts';
export { UPLOAD_PART_BYTES, type ObjectInfo, type OpenedObject, type PutResult, type WriteCondition, type WriteJournal } from './objects.ts';
export { InvalidCursorError, WorkspaceConflictError, WorkspaceUnavailableError } from './errors.ts';
export { CLAIM_GRACE_MS, type RetentionOptions, type RetentionReport } from './retention.ts';
export type { RunLookup } from './claim.ts';
export { applyChanges, changesOf, readStepRecord, STEP_RECORD_ROW_MAX_BYTES, type StepRecord, type WorkspaceChanges, type WorkspaceManifest } from './versions.ts';
