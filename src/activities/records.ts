/**
 * A run's record and log from the workflow's side: a status transition (record, jobs:*
 * entry, `status` event), appended events (the `end` one archives the whole log), and the
 * two calls that open and close a run in one round trip each. Every part is idempotent
 * by its key, so a retried call repeats nothing.
 */
import type { ActivityDeps } from './deps.ts';
import { auditDirectSignals } from './audit.ts';
import { creditActivities } from './credits.ts';
import type { RunEvent, RunStatus } from '../shared/run.ts';
import type { CreditResult, RunFields } from '../store/types.ts';

export interface PublishInput {
  runId: string;
  events: RunEvent[];
  /** The run's owner, when the caller knows it: the archive of its log is kept under it (else its record says). */
  userId?: string;
}
export interface TransitionInput {
  runId: string;
  status: RunStatus;
  /** Deterministic event key (the workflow's sequence number). */
  eventKey: string;
  data?: Record<string, unknown>;
  fields?: RunFields;
}

/** Opening a run: its credits reserved, then (only when they were) its first status. */
export interface OpenRunInput { runId: string; userId: string; amount: number; transition: TransitionInput }
/**
 * Closing a run: events that come before its end (the supervisor's last word), its reservation
 * settled or released (none when it never reserved), its last status, its `end` event.
 */
export interface CloseRunInput {
  runId: string;
  /** The run's owner (histories recorded before it was passed have none: its record says). */
  userId?: string;
  before: RunEvent[];
  credits: 'settle' | 'release' | 'none';
  transition: TransitionInput;
  end: RunEvent;
}

export function recordActivities(deps: ActivityDeps) {
  const publish = async (input: PublishInput): Promise<void> => {
    await auditDirectSignals(deps, input.runId, input.events);
    await deps.events.append(input.runId, input.events);
    // The run's last event: archive its whole log, so it outlives the Redis stream.
    if (input.events.some((e) => e.type === 'end')) {
      const userId = input.userId ?? (await deps.store.getRun(input.runId))?.user_id;
      if (userId) await deps.workspace.archiveEvents(deps.events, userId, input.runId);
    }
  };

  const transition = async (input: TransitionInput): Promise<void> => {
    await deps.store.updateRun(input.runId, input.status, input.fields ?? {});
    const error = input.fields?.error ?? (input.data?.error as { code: string; message: string } | undefined);
    await deps.queue?.track(input.runId, input.status, { reason: error ?? undefined });
    const event = { key: input.eventKey, type: 'status' as const, data: { status: input.status, ...input.data } };
    await auditDirectSignals(deps, input.runId, [event]);
    await deps.events.append(input.runId, [event]);
  };

  const credits = creditActivities(deps);

  return {
    /** Appends events to the run's log (idempotent by event key). */
    publish,
    /**
     * Records a status transition on the run record, moves the run's jobs:* entry (one
     * idempotent script, see src/shared/queue.ts), then announces it on the run's log.
     */
    transition,

    /** Reserves the run's credits and, when they were, records its first status: one round trip. */
    async openRun(input: OpenRunInput): Promise<CreditResult> {
      const r = await credits.reserveCredits(input);
      if (r.ok) await transition(input.transition);
      return r;
    },

    /** Settles or releases the reservation, records the last status and publishes `end`: one round trip. */
    async closeRun(input: CloseRunInput): Promise<void> {
      // A cancelled run's Job that a stopped worker left running has no attempt left to delete it.
      if (input.transition.status === 'cancelled' && deps.sandbox?.stopRun) {
        const stopped = await deps.sandbox.stopRun(input.runId).catch((err: unknown) => {
          deps.log.warn({ err, runId: input.runId }, 'could not stop the cancelled run\'s sandbox work; its deadline ends it');
          return 0;
        });
        if (stopped > 0) deps.log.info({ runId: input.runId, jobs: stopped }, 'stopped what the cancelled run left running');
      }
      if (input.before.length > 0) await publish({ runId: input.runId, events: input.before });
      if (input.credits === 'settle') await credits.settleCredits(input);
      else if (input.credits === 'release') await credits.releaseCredits(input);
      await transition(input.transition);
      await publish({ runId: input.runId, userId: input.userId, events: [input.end] });
    },
  };
}
