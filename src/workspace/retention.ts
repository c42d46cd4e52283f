/**
 * The workspace retention policy: deletes the files of workspaces whose runs ended
 * more than `retentionDays` ago, keeping any workspace a run still uses (or used
 * recently). Run records (`.agentrun/`: step records, transcripts) stay; a tombstone
 * marks the workspace deleted, so it is never reused afterwards.
 *
 * A workspace may go when all of these hold:
 * - its own run has a record, is terminal, and ended before the cutoff;
 * - every run that worked in it (`workspace-users/` markers) is terminal and ended
 *   before the cutoff (a marker without a record is a claim in progress while younger
 *   than CLAIM_GRACE_MS, an abandoned one after that);
 * - after the tombstone is written, no new live user appeared (see ./claim.ts).
 */
import {
  DeleteObjectCommand, DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { S3Client, _Object } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import { s3Keys } from '../shared/names.ts';
import { TERMINAL_STATUSES } from '../shared/run.ts';
import type { Store } from '../store/types.ts';

export interface RetentionDeps {
  s3: S3Client;
  bucket: string;
  store: Pick<Store, 'getRun'>;
  log?: Logger;
}

export interface RetentionOptions {
  /** Workspaces of runs that ended more than this many days ago go; 0 disables the policy. */
  retentionDays: number;
  /** The sweep's clock (tests move it). */
  now?: Date;
  /** Say what would go, delete nothing. */
  dryRun?: boolean;
  /** Only these users (tests, or a targeted sweep). */
  userIds?: string[];
  /** Called between workspaces (the activity heartbeats). */
  onProgress?: (scanned: number) => void;
}

export interface RetentionReport {
  cutoff: string;
  scanned: number;
  deleted: { userId: string; runId: string; files: number }[];
  kept: { userId: string; runId: string; reason: string }[];
}

/** A marker without a run record younger than this is a claim in progress. */
export const CLAIM_GRACE_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

async function* listAll(s3: S3Client, bucket: string, prefix: string, delimiter?: string): AsyncGenerator<{ objects: _Object[]; prefixes: string[] }> {
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: token }));
    yield { objects: page.Contents ?? [], prefixes: (page.CommonPrefixes ?? []).map((p) => p.Prefix!).filter(Boolean) };
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

async function childPrefixes(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const page of listAll(s3, bucket, prefix, '/')) out.push(...page.prefixes);
  return out;
}

async function hasAny(s3: S3Client, bucket: string, prefix: string): Promise<boolean> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 }));
  return (page.KeyCount ?? page.Contents?.length ?? 0) > 0;
}

/** Deletes every object under `prefix`, a thousand per request. Returns how many. */
async function deletePrefix(s3: S3Client, bucket: string, prefix: string): Promise<number> {
  let n = 0;
  // Listing restarts after each batch: deleting while paging would skip keys on some servers.
  for (;;) {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000 }));
    const keys = (page.Contents ?? []).map((o) => o.Key!).filter(Boolean);
    if (keys.length === 0) return n;
    const res = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }));
    if (res.Errors?.length) throw new Error(`could not delete ${res.Errors.length} object(s) under ${prefix}: ${res.Errors[0]?.Code ?? ''} ${res.Errors[0]?.Message ?? ''}`.trim());
    n += keys.length;
  }
}

type Verdict = { go: true } | { go: false; reason: string };

async function judge(deps: RetentionDeps, userId: string, runId: string, cutoffMs: number, nowMs: number): Promise<Verdict> {
  const endedBefore = (r: { status: string; finished_at: string | null; updated_at: string }) => {
    const ended = new Date(r.finished_at ?? r.updated_at).getTime();
    return ended < cutoffMs;
  };
  const own = await deps.store.getRun(runId);
  if (!own) return { go: false, reason: 'no run record' };
  if (own.user_id !== userId) return { go: false, reason: `run record belongs to ${own.user_id}` };
  if (!TERMINAL_STATUSES.has(own.status)) return { go: false, reason: `run is ${own.status}` };
  if (!endedBefore(own)) return { go: false, reason: 'run ended within the retention period' };
  for await (const page of listAll(deps.s3, deps.bucket, s3Keys.workspaceUsers(userId, runId))) {
    for (const o of page.objects) {
      const user = o.Key!.slice(o.Key!.lastIndexOf('/') + 1);
      const r = await deps.store.getRun(user);
      if (!r) {
        if (nowMs - (o.LastModified?.getTime() ?? 0) < CLAIM_GRACE_MS) return { go: false, reason: `being claimed by ${user}` };
        continue;
      }
      if (!TERMINAL_STATUSES.has(r.status)) return { go: false, reason: `in use by ${user} (${r.status})` };
      if (!endedBefore(r)) return { go: false, reason: `used by ${user} within the retention period` };
    }
  }
  return { go: true };
}

/** One sweep over the bucket (or `userIds`). Safe to run concurrently with runs and with itself. */
export async function pruneWorkspaces(deps: RetentionDeps, opts: RetentionOptions): Promise<RetentionReport> {
  const nowMs = (opts.now ?? new Date()).getTime();
  const cutoffMs = nowMs - opts.retentionDays * DAY_MS;
  const report: RetentionReport = { cutoff: new Date(cutoffMs).toISOString(), scanned: 0, deleted: [], kept: [] };
  if (opts.retentionDays <= 0) return report;
  const users = opts.userIds
    ? opts.userIds.map((u) => `${s3Keys.usersPrefix}${u}/`)
    : await childPrefixes(deps.s3, deps.bucket, s3Keys.usersPrefix);
  for (const userPrefix of users) {
    const userId = userPrefix.slice(s3Keys.usersPrefix.length, -1);
    for (const runPrefix of await childPrefixes(deps.s3, deps.bucket, `${userPrefix}runs/`)) {
      const runId = runPrefix.slice(`${userPrefix}runs/`.length, -1);
      const files = s3Keys.workspaceFiles(userId, runId);
      opts.onProgress?.(report.scanned);
      if (!(await hasAny(deps.s3, deps.bucket, files))) continue; // no workspace files (or already swept)
      report.scanned += 1;
      const verdict = await judge(deps, userId, runId, cutoffMs, nowMs);
      if (!verdict.go) {
        report.kept.push({ userId, runId, reason: verdict.reason });
        continue;
      }
      if (opts.dryRun) {
        report.deleted.push({ userId, runId, files: 0 });
        continue;
      }
      const tombstone = s3Keys.workspaceTombstone(userId, runId);
      await deps.s3.send(new PutObjectCommand({
        Bucket: deps.bucket, Key: tombstone, ContentType: 'application/json',
        Body: JSON.stringify({ deletedAt: new Date(nowMs).toISOString(), retentionDays: opts.retentionDays }),
      }));
      // A run may have claimed the workspace between the check and the tombstone: look again.
      const again = await judge(deps, userId, runId, cutoffMs, nowMs);
      if (!again.go) {
        await deps.s3.send(new DeleteObjectCommand({ Bucket: deps.bucket, Key: tombstone }));
        report.kept.push({ userId, runId, reason: again.reason });
        continue;
      }
      const n = await deletePrefix(deps.s3, deps.bucket, files);
      deps.log?.info({ userId, runId, files: n }, 'workspace deleted by the retention policy');
      report.deleted.push({ userId, runId, files: n });
    }
  }
  return report;
}
