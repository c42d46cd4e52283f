/**
 * What every part of AgentRun works with: its input, its state, and the effects
 * all parts use (event keys, events on the run's log, status transitions, waits
 * for a human with the work clock stopped), plus the error that ends a run early.
 */
import { condition, patched, upsertSearchAttributes } from '@temporalio/workflow';
import type { TransitionInput } from '../activities/index.ts';
import type { EventType, RunEvent, RunInput, RunStatus } from '../shared/run.ts';
import { DIRECT_ACTOR, searchAttributes } from './definitions.ts';
import { acts, localActs } from './proxies.ts';
import type { ShortCalls } from './proxies.ts';
import type { AgentRunState } from './state.ts';

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

/** Thrown to end the run early with a status and a reason: a refusal, a rejection, a limit reached. */
export class RunEnded extends Error {
  readonly status: 'failed' | 'cancelled';
  readonly code: string;
  constructor(status: 'failed' | 'cancelled', code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export interface RunContext {
  readonly input: RunInput;
  readonly s: AgentRunState;
  /** Holds, re-approval and time limits apply (false only when replaying a history recorded before them). */
  readonly payFirst: boolean;
  /** The short calls: local activities, or activities when replaying a history recorded before them. */
  readonly calls: ShortCalls;
  /** A step holds and settles its own payment (runPaidStep); false when replaying a history recorded before. */
  readonly stepPays: boolean;
  /** The run opens and closes in one call each (openRun, closeRun); false when replaying a history recorded before. */
  readonly oneCallEnds: boolean;
  /** The offline planner runs as a local activity; false when replaying a history recorded before. */
  readonly localOfflinePlan: boolean;
  /** An event with the next deterministic key, to hand to a call that appends it. */
  event(type: EventType, data: Record<string, unknown>): RunEvent;
  /** A transition's input with the next key, for a call that records it; markStatus() once it was. */
  transitionInput(status: RunStatus, data?: Record<string, unknown>, fields?: TransitionInput['fields']): TransitionInput;
  /** The status in the run's state and its search attribute. */
  markStatus(status: RunStatus): void;
  /** Appends an event to the run's log. */
  emit(type: EventType, data: Record<string, unknown>): Promise<void>;
  /** Sets the run's status (search attribute, record, `status` event). */
  transition(status: RunStatus, data?: Record<string, unknown>, fields?: TransitionInput['fields']): Promise<void>;
  /** Waits for a human with the clock of active work stopped. */
  waitFor(until: () => boolean, timeoutMs: number): Promise<boolean>;
  /**
   * Announces messages signalled to Temporal directly (histories recorded before this replay
   * without announcing them); `into` collects the events for a call that appends them.
   */
  announceDirectMessages(into?: RunEvent[]): Promise<void>;
}

export function createContext(input: RunInput, s: AgentRunState): RunContext {
  const runId = input.runId;
  // Runs recorded before holds and re-approval existed replay as they ran (charged after each step).
  const payFirst = patched(PAY_BEFORE_RUN);
  const fewerRoundTrips = patched(FEWER_ROUND_TRIPS);
  const calls = fewerRoundTrips ? localActs : acts;
  const oneCallEnds = fewerRoundTrips && patched(ONE_CALL_ENDS);
  const localOfflinePlan = oneCallEnds && input.provider === 'offline' && patched(LOCAL_OFFLINE_PLAN);
  const key = () => `wf:${s.seq++}`;
  const event = (type: EventType, data: Record<string, unknown>): RunEvent => ({ key: key(), type, data });
  const emit = (type: EventType, data: Record<string, unknown>) => calls.publish({ runId, events: [event(type, data)] });
  const transitionInput = (status: RunStatus, data: Record<string, unknown> = {}, fields: TransitionInput['fields'] = {}): TransitionInput =>
    ({ runId, status, eventKey: key(), data, fields });
  const markStatus = (status: RunStatus) => {
    s.state.status = status;
    upsertSearchAttributes([{ key: searchAttributes.agentStatus, value: status }]);
  };
  return {
    input, s, payFirst, calls, stepPays: payFirst && fewerRoundTrips, oneCallEnds, localOfflinePlan, emit, event, markStatus, transitionInput,
    async transition(status, data, fields) {
      markStatus(status);
      await calls.transition(transitionInput(status, data, fields));
    },
    async waitFor(until, timeoutMs) {
      const t0 = Date.now();
      try {
        return await condition(until, timeoutMs);
      } finally {
        s.waitedMs += Date.now() - t0;
      }
    },
    async announceDirectMessages(into) {
      if (s.directMessages.length === 0 || !patched(DIRECT_MESSAGE_AUDIT)) return;
      for (const text of s.directMessages.splice(0)) {
        const said = { stream: 'control', action: 'message', actor: DIRECT_ACTOR, text };
        if (into) into.push(event('log', said));
        else await emit('log', said);
      }
    },
  };
}
