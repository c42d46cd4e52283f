/**
 * The patch ids of AgentRun's changes (each a `patched()` gate, so histories recorded before
 * a change replay down the path they took), and the baselines that stand for them.
 *
 * Every `patched()` a run calls records a marker and an upsert of the TemporalChangeVersion
 * search attribute (a visibility write on the server): six gates at a run's start were a
 * third of a short run's history. A run started now records one patch, the latest baseline,
 * and takes every path below; histories recorded before a baseline have no marker of it, so
 * they replay through the baseline before, or their own gates, as before. A new change adds
 * its own patch id here (gated with `has()`) and joins a new baseline.
 */
import { patched } from '@temporalio/workflow';

/**
 * Patch id of pay-before-run holds, re-approval of plan changes and step time limits:
 * histories recorded before them replay down the old path (charged after each step).
 */
export const PAY_BEFORE_RUN = 'pay-before-run';
/** Patch id of announcing messages signalled to Temporal directly (for the audit trail). */
export const DIRECT_MESSAGE_AUDIT = 'direct-message-audit';
/**
 * Patch id of fewer round trips: short calls (records, events, credits) as local activities,
 * and each step paid inside the activity that runs it (runPaidStep). Histories recorded
 * before replay with each short call an activity of its own and a step's hold and charge apart.
 */
export const FEWER_ROUND_TRIPS = 'fewer-round-trips';
/**
 * Patch id of one-call run ends: the reservation and the first status in one local activity
 * (openRun), and the settlement, the last status and `end` in another (closeRun). Histories
 * recorded before replay with each of them a call of its own.
 */
export const ONE_CALL_ENDS = 'one-call-ends';
/**
 * Patch id of the offline planner as a local activity (it parses the prompt: no task-queue
 * round trip and no workflow task of its own). Histories recorded before replay with it an activity.
 */
export const LOCAL_OFFLINE_PLAN = 'local-offline-plan';
/** Patch id of skipping the tracing interceptors for runs started without a trace context. */
export const UNTRACED_RUNS = 'untraced-runs';

/**
 * Patch id of a cancelled run closing as cancelled when the call its cancellation interrupted
 * failed instead (only that path calls it: no marker in other runs). Histories recorded before
 * it ended such runs failed, without closing them.
 */
export const CANCEL_WINS = 'cancel-wins';

/**
 * Patch id of an offline run's first plan made in the call that opens it (openRun: the
 * reservation, `planning`, the plan with its time limits, `running`): a 1-step run's first
 * workflow task runs one local activity instead of three. Histories recorded before replay
 * with the plan and `running` as calls of their own.
 */
export const OPEN_WITH_PLAN = 'open-with-plan';

/**
 * Patch id of workspace file steps (write_file, read_file, list_files, stat_file, delete_file)
 * as local activities: run by the worker inside the workflow task that schedules them, recorded
 * as a marker, with no task-queue round trip (src/workflows/proxies.ts toolStep). Histories
 * recorded before replay with each such step an activity.
 */
export const LOCAL_FILE_STEPS = 'local-file-steps';

/** Patch id of the first baseline: a run that has it takes every change listed in IN_BASELINE_1. */
export const BASELINE_1 = 'baseline-1';
const IN_BASELINE_1: ReadonlySet<string> = new Set([PAY_BEFORE_RUN, DIRECT_MESSAGE_AUDIT, FEWER_ROUND_TRIPS, ONE_CALL_ENDS, LOCAL_OFFLINE_PLAN, UNTRACED_RUNS]);
/** Patch id of the second baseline: the first one's changes and OPEN_WITH_PLAN. */
export const BASELINE_2 = 'baseline-2';
const IN_BASELINE_2: ReadonlySet<string> = new Set([...IN_BASELINE_1, OPEN_WITH_PLAN]);
/** Patch id of the current baseline: the second one's changes and LOCAL_FILE_STEPS. */
export const BASELINE_3 = 'baseline-3';
const IN_BASELINE_3: ReadonlySet<string> = new Set([...IN_BASELINE_2, LOCAL_FILE_STEPS]);
/** The baselines, newest first: the order has() asks them in. A new baseline goes at the front. */
const BASELINES: readonly (readonly [string, ReadonlySet<string>])[] = [[BASELINE_3, IN_BASELINE_3], [BASELINE_2, IN_BASELINE_2], [BASELINE_1, IN_BASELINE_1]];

/**
 * Whether this execution takes the change `patchId`: through a baseline when the change is
 * part of it (one marker for all: a run started now records only BASELINE_3, one recorded
 * under BASELINE_1 or BASELINE_2 replays through it), else through the change's own `patched()`.
 * The newest baseline is asked first: a run's first workflow task asks, so a history without
 * its marker there answers false for the whole execution, and the older baselines are asked.
 */
export function has(patchId: string): boolean {
  for (const [baseline, changes] of BASELINES) if (changes.has(patchId) && patched(baseline)) return true;
  return patched(patchId);
}
