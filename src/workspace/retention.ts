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
import type { Logger } from 'pino';
import { s3Keys } from '../shared/names.ts';
import { TERMINAL_STATUSES } from '../shared/run.ts';
import type { RunLookup } from './claim.ts';
import type { ObjectStore } from './objects.ts';

export interface RetentionDeps {
  objects: ObjectStore;
  runs: RunLookup;
  log?: Pick<Logger, 'info'>;
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

type Verdict = { go: true } | { go: false; reason: string };

async function judge(deps: RetentionDeps, userId: string, runId: string, cutoffMs: number, nowMs: number): Promise<Verdict> {
  const endedBefore = (r: { status: string; finished_at: string | null; updated_at: string }) => {
    const ended = new Date(r.finished_at ?? r.updated_at).getTime();
    return ended < cutoffMs;
  };
  const own = await deps.runs.getRun(runId);
  if (!own) return { go: false, reason: 'no run record' };
  if (own.user_id !== userId) return { go: false, reason: `run record belongs to ${own.user_id}` };
  if (!TERMINAL_STATUSES.has(own.status)) return { go: false, reason: `run is ${own.status}` };
  if (!endedBefore(own)) return { go: false, reason: 'run ended within the retention period' };
  for await (const page of deps.objects.pages(s3Keys.workspaceUsers(userId, runId))) {
    for (const o of page.objects) {
      const user = o.key.slice(o.key.lastIndexOf('/') + 1);
      const r = await deps.runs.getRun(user);
      if (!r) {
        if (nowMs - (o.lastModified?.getTime() ?? 0) < CLAIM_GRACE_MS) return { go: false, reason: `being claimed by ${user}` };
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
    : await deps.objects.childPrefixes(s3Keys.usersPrefix);
  for (const userPrefix of users) {
    const userId = userPrefix.slice(s3Keys.usersPrefix.length, -1);
    for (const runPrefix of await deps.objects.childPrefixes(`${userPrefix}runs/`)) {
      const runId = runPrefix.slice(`${userPrefix}runs/`.length, -1);
      const files = s3Keys.workspaceFiles(userId, runId);
      opts.onProgress?.(report.scanned);
      if (!(await deps.objects.hasAny(files))) continue; // no workspace files (or already swept)
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
      await deps.objects.putJson(tombstone, { deletedAt: new Date(nowMs).toISOString(), retentionDays: opts.retentionDays });
      // A run may have claimed the workspace between the check and the tombstone: look again.
      const again = await judge(deps, userId, runId, cutoffMs, nowMs);
      if (!again.go) {
        await deps.objects.delete(tombstone);
        report.kept.push({ userId, runId, reason: again.reason });
        continue;
      }
      const n = await deps.objects.deletePrefix(files);
      deps.log?.info({ userId, runId, files: n }, 'workspace deleted by the retention policy');
      report.deleted.push({ userId, runId, files: n });
    }
  }
  return report;
}
