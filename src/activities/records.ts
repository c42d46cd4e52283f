/**
 * A run's record and log from the workflow's side: a status transition (record, then its
 * jobs:* entry and `status` event together), appended events (the `end` one archives the
 * whole log), and the two calls that open and close a run in one round trip each. Every
 * part is idempotent by its key, so a retried call repeats nothing.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityDeps } from './deps.ts';
import { auditDirectSignals } from './audit.ts';
import { creditKeys } from './credits.ts';
import type { PlanInput } from './llm.ts';
import { clampNotice, runningWithPlan, withTimeLimits } from '../shared/plan-gate.ts';
import type { StepTimeLimits } from '../shared/pricing.ts';
import type { Plan, RunEvent, RunStatus } from '../shared/run.ts';
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

/**
 * Opening a run: its credits reserved, then (only when they were) its first status, and for
 * `plan` its first plan: made, its steps given their time limits (a cut one says so on the
 * log), recorded, and the run `running` (an offline run's, src/workflows/planning.ts).
 */
export interface OpenRunInput { runId: string; userId: string; amount: number; transition: TransitionInput; plan?: OpenPlan }
/** The first plan made in the call that opens the run: what the plan call gets, the step time limits, the key of `running`. */
export interface OpenPlan { request: PlanInput; timeLimits: StepTimeLimits; runningKey: string }
/**
 * The reservation's outcome; with a plan asked for and the reservation taken, the plan, or
 * why it could not be made (a refusal for good: the run ends, and its reservation is released).
 */
export type OpenRunResult = CreditResult & { planned?: { plan: Plan } | { refused: { type: string; message: string } } };
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
  /** A reset execution's epoch (the workflow's withEpoch adds it): its reservation closes under a key of its own. */
  epoch?: string;
}

/** A status transition's `status` event (its data with the error, if any). */
const statusEvent = (input: TransitionInput): RunEvent => ({ key: input.eventKey, type: 'status', data: { status: input.status, ...input.data } });

/** What openRun is made of. */
export interface OpenRunParts {
  /** Reserves the run's credits and, only when they were, records its first status on its record. */
  open(input: OpenRunInput): Promise<CreditResult>;
  /** Announces a transition its record already has: its jobs:* move and `events`. */
  announce(transition: TransitionInput, events: RunEvent[]): Promise<void>;
  /** Records a transition and announces it with `events`. */
  record(transition: TransitionInput, events: RunEvent[]): Promise<void>;
  plan(input: PlanInput): Promise<{ plan: Plan }>;
}

/** openRun from its parts (the workflow tests' fakes build it from theirs). */
export function openRunWith(parts: OpenRunParts): (input: OpenRunInput) => Promise<OpenRunResult> {
  return async (input) => {
    const r = await parts.open(input);
    if (!r.ok) return r;
    const planning = parts.announce(input.transition, [statusEvent(input.transition)]);
    if (!input.plan) {
      await planning;
      return r;
    }
    // The plan is made while `planning` is announced; both are done before anything else is.
    const [announced, planned] = await Promise.allSettled([planning, parts.plan(input.plan.request)]);
    if (announced.status === 'rejected') throw announced.reason;
    if (planned.status === 'rejected') {
      const err: unknown = planned.reason;
      // The run holds its reservation now: a plan refused for good comes back as a result, so the workflow releases it.
      if (err instanceof ApplicationFailure && err.nonRetryable) return { ...r, planned: { refused: { type: err.type ?? 'RunFailed', message: err.message } } };
      throw err;
    }
    const made = planned.value.plan;
    const { steps, clamped } = withTimeLimits(made.steps, input.plan.timeLimits);
    const plan = { ...made, steps };
    const running: TransitionInput = { runId: input.runId, status: 'running', eventKey: input.plan.runningKey, ...runningWithPlan(plan) };
    const notices = clamped.map((c): RunEvent => ({ key: `${running.eventKey}:cut:${c.index}`, type: 'log', data: clampNotice(`plan step ${c.index}`, c) }));
    await parts.record(running, [...notices, statusEvent(running)]);
    return { ...r, planned: { plan } };
  };
}

/** `plan`: the plan call (src/activities/llm.ts), for openRun's first plan. */
export function recordActivities(deps: ActivityDeps, plan: (input: PlanInput) => Promise<{ plan: Plan }>) {
  /** Archives the run's whole log (its `end` appended), so it outlives the Redis stream; under its owner (else its record says). */
  const archive = async (runId: string, owner: string | undefined): Promise<void> => {
    const userId = owner ?? (await deps.store.getRun(runId))?.user_id;
    if (userId) await deps.workspace.archiveEvents(deps.events, userId, runId);
  };

  const publish = async (input: PublishInput): Promise<void> => {
    await auditDirectSignals(deps, input.runId, input.events);
    await deps.events.append(input.runId, input.events);
    // The run's last event: archive its whole log, so it outlives the Redis stream.
    if (input.events.some((e) => e.type === 'end')) await archive(input.runId, input.userId);
  };

  /**
   * Moves a recorded transition's jobs:* entry and appends `events` (its `status` event among
   * them) in one round trip to Redis: both commands go out together on the one connection,
   * which runs them in order. A retried call repeats neither.
   */
  const announce = async (input: TransitionInput, events: RunEvent[]): Promise<void> => {
    const error = input.fields?.error ?? (input.data?.error as { code: string; message: string } | undefined);
    const append = async () => {
      await auditDirectSignals(deps, input.runId, events);
      await deps.events.append(input.runId, events);
    };
    await Promise.all([deps.queue?.track(input.runId, input.status, { reason: error ?? undefined }), append()]);
  };

  /** Records a transition on the run record, then announces it. */
  const recordTransition = async (input: TransitionInput, events: RunEvent[]): Promise<void> => {
    await deps.store.updateRun(input.runId, input.status, input.fields ?? {});
    await announce(input, events);
  };

  const transition = (input: TransitionInput): Promise<void> => recordTransition(input, [statusEvent(input)]);

  return {
    /** Appends events to the run's log (idempotent by event key). */
    publish,
    /**
     * Records a status transition on the run record, then moves the run's jobs:* entry (one
     * idempotent script, see src/shared/queue.ts) and announces it on the run's log.
     */
    transition,

    /** Reserves the run's credits and, when they were, records its first status (and plans it): one round trip. */
    openRun: openRunWith({
      open: (input) => deps.store.openRun(input.userId, input.runId, input.amount, creditKeys.reserve(input.runId), input.transition.status, input.transition.fields),
      announce, record: recordTransition, plan,
    }),

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
      // The reservation closed and the last status recorded in one database call, then what comes before
      // the end, the last status and `end` in one append, in that order.
      const t = input.transition;
      const key = input.credits === 'settle' ? creditKeys.settle(input.runId, input.epoch) : creditKeys.release(input.runId, input.epoch);
      await deps.store.closeRun(input.runId, input.credits, key, t.status, t.fields ?? {});
      await announce(t, [...input.before, statusEvent(t), input.end]);
      await archive(input.runId, input.userId);
    },
  };
}
