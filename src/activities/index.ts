/**
 * The activity factory: every side effect of a run, built from the clients the
 * worker creates once. Workflows import the `Activities` type only.
 */
import type { ActivityDeps } from './deps.ts';
import { FAILURE_TYPES, nonRetryable } from './errors.ts';
import { runStep } from './steps.ts';
import type { RunStepInput } from './steps.ts';
import { planFromPrompt, PromptSyntaxError } from '../shared/offline-planner.ts';
import type { Plan, RunEvent, RunStatus, StepResult } from '../shared/run.ts';
import type { CreditResult, RunFields } from '../store/types.ts';

export interface PlanInput { runId: string; userId: string; prompt: string }
export interface PublishInput { runId: string; events: RunEvent[] }
export interface TransitionInput {
  runId: string;
  status: RunStatus;
  /** Deterministic event key (the workflow's sequence number). */
  eventKey: string;
  data?: Record<string, unknown>;
  fields?: RunFields;
}

/** Idempotency keys of credit operations: one per run (and step), stable across retries and replays. */
export const creditKeys = {
  reserve: (runId: string) => `reserve:${runId}`,
  charge: (runId: string, index: number) => `charge:${runId}:${index}`,
  settle: (runId: string) => `settle:${runId}`,
  release: (runId: string) => `release:${runId}`,
};

export function createActivities(deps: ActivityDeps) {
  return {
    /** Turns the prompt into a plan with the configured provider. */
    async plan(input: PlanInput): Promise<Plan> {
      try {
        return planFromPrompt(input.prompt);
      } catch (err) {
        if (err instanceof PromptSyntaxError) throw nonRetryable(FAILURE_TYPES.invalidPrompt, err.message, { line: err.line });
        throw err;
      }
    },

    /** Appends events to the run's log (idempotent by event key). */
    async publish(input: PublishInput): Promise<void> {
      await deps.events.append(input.runId, input.events);
    },

    /** Records a status transition on the run record, then announces it on the run's log. */
    async transition(input: TransitionInput): Promise<void> {
      await deps.store.updateRun(input.runId, input.status, input.fields ?? {});
      await deps.events.append(input.runId, [{ key: input.eventKey, type: 'status', data: { status: input.status, ...input.data } }]);
    },

    /** Runs one plan step, at most once in effect. */
    async runStep(input: RunStepInput): Promise<StepResult> {
      return runStep(deps, input);
    },

    /** Sets the run's credits aside. A refusal is a result, not an error: the workflow decides. */
    async reserveCredits(input: { runId: string; userId: string; amount: number }): Promise<CreditResult> {
      return deps.store.reserve(input.userId, input.runId, input.amount, creditKeys.reserve(input.runId));
    },

    /** Charges a finished step against the run's reservation. */
    async chargeStep(input: { runId: string; index: number; amount: number; tokens: number }): Promise<CreditResult> {
      const r = await deps.store.charge(input.runId, input.index, input.amount, input.tokens, creditKeys.charge(input.runId, input.index));
      if (r.ok) await deps.events.append(input.runId, [{ key: `usage:${input.index}`, type: 'usage', data: { index: input.index, credits: input.amount, tokens: input.tokens, runCharged: r.run_charged } }]);
      return r;
    },

    /** Returns what a completed run did not use. */
    async settleCredits(input: { runId: string }): Promise<CreditResult> {
      return deps.store.settle(input.runId, creditKeys.settle(input.runId));
    },

    /** Returns what a failed or cancelled run did not use. */
    async releaseCredits(input: { runId: string }): Promise<CreditResult> {
      return deps.store.release(input.runId, creditKeys.release(input.runId));
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { RunStepInput };
