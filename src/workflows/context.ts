/**
 * What every part of AgentRun works with: its input, its state, and the effects
 * all parts use (event keys, events on the run's log, status transitions, waits
 * for a human with the work clock stopped), plus the error that ends a run early.
 */
import { condition, upsertSearchAttributes } from '@temporalio/workflow';
import type { TransitionInput } from '../activities/index.ts';
import type { EventType, RunEvent, RunInput, RunStatus } from '../shared/run.ts';
import { DIRECT_ACTOR, searchAttributes } from './definitions.ts';
import { DIRECT_MESSAGE_AUDIT, FEWER_ROUND_TRIPS, has, LOCAL_FILE_STEPS, LOCAL_OFFLINE_PLAN, ONE_CALL_ENDS, OPEN_WITH_PLAN, PAY_BEFORE_RUN } from './patches.ts';
import { acts, localActs, withEpoch } from './proxies.ts';
import type { ShortCalls } from './proxies.ts';
import type { AgentRunState } from './state.ts';

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
  /** An offline run's first plan is made in the call that opens it (openRun); false when replaying a history recorded before. */
  readonly openWithPlan: boolean;
  /** File steps run as local activities (proxies.ts toolStep); false when replaying a history recorded before. */
  readonly localFileSteps: boolean;
  /** `key` as this run writes it: with its epoch once it was reset (state.ts resetEpoch). */
  tag(key: string): string;
  /** A proxy whose calls pass the run's epoch on (proxies.ts withEpoch). */
  proxy<T extends object>(p: T): T;
  /** The next deterministic event key, for a call that makes the event itself. */
  nextKey(): string;
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
  const payFirst = has(PAY_BEFORE_RUN);
  const fewerRoundTrips = has(FEWER_ROUND_TRIPS);
  const tag = (key: string) => (s.epoch === undefined ? key : `${key}@${s.epoch}`);
  const proxy = <T extends object>(p: T): T => withEpoch(p, s.epoch);
  const calls = proxy(fewerRoundTrips ? localActs : acts);
  const oneCallEnds = fewerRoundTrips && has(ONE_CALL_ENDS);
  const localOfflinePlan = oneCallEnds && input.provider === 'offline' && has(LOCAL_OFFLINE_PLAN);
  const openWithPlan = localOfflinePlan && has(OPEN_WITH_PLAN);
  const stepPays = payFirst && fewerRoundTrips;
  // Asked here, in the run's first workflow task, for all its steps (a paid step knows whether it ran before).
  const localFileSteps = stepPays && has(LOCAL_FILE_STEPS);
  const key = () => tag(`wf:${s.seq++}`);
  const event = (type: EventType, data: Record<string, unknown>): RunEvent => ({ key: key(), type, data });
  const emit = (type: EventType, data: Record<string, unknown>) => calls.publish({ runId, events: [event(type, data)] });
  const transitionInput = (status: RunStatus, data: Record<string, unknown> = {}, fields: TransitionInput['fields'] = {}): TransitionInput =>
    ({ runId, status, eventKey: key(), data, fields });
  const markStatus = (status: RunStatus) => {
    s.state.status = status;
    upsertSearchAttributes([{ key: searchAttributes.agentStatus, value: status }]);
  };
  return {
    input, s, tag, proxy, payFirst, calls, stepPays, oneCallEnds, localOfflinePlan, openWithPlan, localFileSteps, nextKey: key, emit, event, markStatus, transitionInput,
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
      if (s.directMessages.length === 0 || !has(DIRECT_MESSAGE_AUDIT)) return;
      for (const text of s.directMessages.splice(0)) {
        const said = { stream: 'control', action: 'message', actor: DIRECT_ACTOR, text };
        if (into) into.push(event('log', said));
        else await emit('log', said);
      }
    },
  };
}
