/**
 * The queue facade's contract: which run status shows in which `jobs:*` list,
 * and the seeds' legacy job format. Pure module.
 *
 *   created                                   → (no entry: a legacy producer enqueues it itself)
 *   queued, priority 1–2                      → jobs:high_priority
 *   queued, priority 3–5                      → jobs:pending
 *   planning, running, awaiting_approval, paused → jobs:processing
 *   failed                                    → jobs:failed (with the reason)
 *   completed, cancelled                      → removed
 * jobs:retry holds entries on their way back to jobs:pending: dead-lettered runs an
 * operator retried, and legacy jobs whose evaluation hit a transient outage (with backoff).
 */
import { z } from 'zod';
import { isRunId } from './names.ts';
import type { RunStatus } from './run.ts';

export const QUEUE_NAMES = ['pending', 'high_priority', 'processing', 'retry', 'failed'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

/** Runs with a priority at or below this (1 = first) are listed on jobs:high_priority while queued. */
export const HIGH_PRIORITY_MAX = 2;

/** The list a run in `status` belongs to, or `none` (not listed). */
export function queueForStatus(status: RunStatus, priority?: number): 'pending' | 'high_priority' | 'processing' | 'failed' | 'none' {
  switch (status) {
    case 'queued': return priority !== undefined && priority <= HIGH_PRIORITY_MAX ? 'high_priority' : 'pending';
    case 'planning': case 'running': case 'awaiting_approval': case 'paused': return 'processing';
    case 'failed': return 'failed';
    case 'created': case 'completed': case 'cancelled': return 'none';
  }
}

/**
 * A legacy job as the seeds' producers push it, plus its signature:
 * `{"run_id":"…","enqueued_at":"…","priority":0,"retry_count":0,"sig":"…"}` (see ingress-signature.ts).
 * Only `run_id` (and an API-written `retry_of`) is acted on; the run's user, prompt and
 * priority come from its database record.
 */
export const legacyJob = z.object({
  run_id: z.string({ error: (i) => (i.input === undefined ? 'is required' : 'must be a string') }).refine(isRunId, 'must be a run id (run_ + 26 characters)'),
  enqueued_at: z.string().optional(),
  /** Kept for the seeds' format; ignored (the run record's priority counts). */
  priority: z.number().int().min(0).max(5).optional(),
  retry_count: z.number().int().min(0).optional(),
  /** Set (and signed) by the API when an operator retried a dead-lettered run: the run this one repeats. */
  retry_of: z.string().refine(isRunId, 'must be a run id').optional(),
  /** HMAC-SHA256 (hex) of the signing input; checked after the shape, so a bad one is `bad_signature`. */
  sig: z.unknown().optional(),
}).loose();
export type LegacyJob = z.infer<typeof legacyJob>;

/** Why something failed: a stable code and a human message. */
export const failureReason = z.object({ code: z.string(), message: z.string() });
export type FailureReason = z.infer<typeof failureReason>;

/** What an entry of jobs:failed written by agentrun must hold (anything else is shown as a foreign entry). */
export const failedEntryShape = z.object({
  id: z.string().min(1),
  source: z.enum(['run', 'ingress']),
  reason: failureReason,
  failed_at: z.iso.datetime({ offset: true }),
}).loose();

/** An entry of jobs:failed. `id` is the run id for runs, `dlq_…` for ingress entries that name no usable run. */
export interface FailedEntry {
  id: string;
  run_id?: string | null;
  source: 'run' | 'ingress';
  reason: FailureReason;
  /** When it was dead-lettered; null for an entry agentrun did not write. */
  failed_at: string | null;
  enqueued_at?: string;
  priority?: number;
  retry_count?: number;
  retry_of?: string;
  /** The original ingress entry, verbatim (ingress failures only). */
  job?: string;
}

/**
 * An entry of jobs:retry: what goes back onto jobs:pending once due. Nothing in it is
 * trusted: `job` is checked like any other entry when the consumer takes it.
 */
export interface RetryEntry {
  id: string;
  kind: 'requeue';
  job: string;
  retry_at: string;
  retry_count: number;
  reason?: FailureReason;
}

/** Seconds since the entry's own timestamp (entering its list, failing, or being enqueued); undefined when it has none. */
export function entryAgeS(member: string, nowMs: number): number | undefined {
  try {
    const e = JSON.parse(member) as Record<string, unknown>;
    for (const k of ['since', 'failed_at', 'retry_at', 'enqueued_at']) {
      const v = e[k];
      if (typeof v !== 'string') continue;
      const t = Date.parse(v);
      if (Number.isFinite(t)) return Math.max(0, (nowMs - t) / 1000);
    }
  } catch {
    // a malformed legacy entry has no age
  }
  return undefined;
}
