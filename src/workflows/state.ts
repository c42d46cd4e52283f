/**
 * AgentRun's state as one value: what outlives an execution (the continue-as-new
 * carry) and what lasts one execution only. Adding a field is one edit: give it
 * its starting value in `startingCarry` (carried) or `startingExecution` (not).
 * A carry written before a field existed starts that field at its starting value,
 * so a run that continued as new under older code goes on under this one.
 * Deterministic: the only clock is the workflow's.
 */
import type { Plan, PlanStep, RunEvent, RunInput, RunState, StepResult } from '../shared/run.ts';
import { TERMINAL_STATUSES, type RunStatus } from '../shared/run-status.ts';
import type { ApproveSignal } from './definitions.ts';
import { DIRECT_ACTOR } from './definitions.ts';

/**
 * What one execution hands the next (`RunInput.carry`), at the values a new run starts
 * from. The field names are the carry's wire shape: recorded histories hold them.
 */
function startingCarry(input: Pick<RunInput, 'runId' | 'userId'>, nowMs: number) {
  const state: RunState = {
    runId: input.runId, userId: input.userId, status: 'queued', steps: [], creditsCharged: 0, creditsReserved: 0, iterations: 0, completedSteps: 0,
  };
  return {
    /** The record the status query returns (its `plan` is the plan as last planned). */
    state,
    /** The plan being run: the last plan with the supervisor's changed steps. */
    plan: undefined as Plan | undefined,
    /** Position in the plan of the next step. */
    nextIndex: 0,
    /** Number of the next event key (`wf:<seq>`). */
    seq: 0,
    /** LLM calls so far (their ids key holds and charges). */
    llmCalls: 0,
    /** Approvals so far (budget extension keys use it). */
    approvals: 0,
    /** Time spent waiting for humans, which the activation timeout does not count. */
    waitedMs: 0,
    startedAtMs: nowMs,
    /** Messages from humans, oldest first (planner and supervisor read them). */
    messages: [] as string[],
    /**
     * Set once the run was reset (see resetEpoch): the reset execution's run id, which every
     * key this run writes from then on carries and every call passes on.
     */
    epoch: undefined as string | undefined,
  };
}
export type RunCarry = ReturnType<typeof startingCarry>;
const CARRIED = Object.keys(startingCarry({ runId: '', userId: '' }, 0)) as (keyof RunCarry)[];

/** A hold taken and not settled yet: one step execution's or one LLM call's maximum cost. */
export interface OpenHold {
  index: number | null;
  amount: number;
  tokens: number;
  key: string;
  chargeKey: string;
  what: string;
  /** The step held for (a step cancelled or failed mid-way is charged for the time it ran). */
  step?: PlanStep;
  startedAtMs: number;
  /** Taken inside the step's activity, which may have ended before taking it. */
  maybe?: boolean;
}

/** What lasts one execution only. */
function startingExecution(continued: boolean) {
  return {
    /** The run's reservation is this execution's to settle (a continued run reserved in an earlier one). */
    reserved: continued,
    paused: false,
    /** Who paused and who resumed the run last (`actor` on the status events that follow). */
    pausedBy: DIRECT_ACTOR,
    resumedBy: DIRECT_ACTOR,
    /** Step executions in this workflow execution (it continues as new after STEPS_PER_EXECUTION). */
    stepsThisExecution: 0,
    /** Messages signalled to Temporal directly (no actor), not yet announced on the log. */
    directMessages: [] as string[],
    /** An `approve` signal the waiting gate has not taken yet. */
    pendingApproval: undefined as ApproveSignal | undefined,
    openHold: undefined as OpenHold | undefined,
    /** Events the run's closing call appends before `end` (the supervisor's last decision). */
    closing: [] as RunEvent[],
    /** The status before the run's ending was decided, shown until that ending is recorded. */
    liveStatus: undefined as RunStatus | undefined,
    /** The ending is recorded: credits settled, record updated, `end` published. */
    ended: false,
  };
}

export type AgentRunState = RunCarry & ReturnType<typeof startingExecution>;

/** The state an execution starts from: a new run's, or what the previous execution carried. */
export function fromCarry(input: RunInput, nowMs: number): AgentRunState {
  const carry = input.carry as Partial<RunCarry> | undefined;
  return { ...startingCarry(input, nowMs), ...carry, ...startingExecution(carry !== undefined) };
}

/** Every carried field that has a value (as the wire would: JSON drops undefined), for the next execution's input. */
export function toCarry(s: AgentRunState): RunCarry {
  return Object.fromEntries(CARRIED.filter((k) => s[k] !== undefined).map((k) => [k, s[k]])) as RunCarry;
}

/** Decides how the run ends; queries go on showing the live status until finish() recorded it. */
export function endAs(s: AgentRunState, status: RunStatus): void {
  if (!TERMINAL_STATUSES.has(s.state.status)) s.liveStatus = s.state.status;
  s.state.status = status;
}

/**
 * The run's state as queries show it: an ending decided but not yet recorded shows the
 * status before it, so a client that reads `completed` also reads the credits it charged.
 */
export function shownState(s: AgentRunState): RunState {
  if (s.ended || !TERMINAL_STATUSES.has(s.state.status)) return s.state;
  const { error: _decided, ...rest } = s.state;
  return { ...rest, status: s.liveStatus ?? 'running' };
}

/**
 * The epoch of an execution: its own run id when it is a reset one (Temporal keeps the
 * first execution's run id as `originalExecutionRunId` across a reset, and a new chain's
 * after continue-as-new), else the one it carries. Deterministic: both ids are in the history.
 */
export function resetEpoch(info: { runId: string; originalExecutionRunId?: string }, carried: string | undefined): string | undefined {
  return info.originalExecutionRunId && info.originalExecutionRunId !== info.runId ? info.runId : carried;
}

/**
 * Notes under which epoch step execution `index` left its record (`result.epoch`), and
 * answers the result as the state shows it. A reset execution inherits the results of the
 * steps before its reset point with the epochs that ran them, so these pairs name, for
 * every step of this run's line of executions, the record a fork must read.
 */
export function noteRecordEpoch(state: RunState, result: StepResult): StepResult {
  const { epoch, ...shown } = result;
  const was = state.recordEpochs?.at(-1)?.[1] ?? null;
  if ((epoch ?? null) !== was) state.recordEpochs = [...(state.recordEpochs ?? []), [result.index, epoch ?? null]];
  return shown;
}
