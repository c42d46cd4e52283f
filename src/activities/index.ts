/**
 * The activity factory: every side effect of a run, built from the clients the
 * worker creates once. Workflows import the `Activities` type only.
 */
import type { ActivityDeps } from './deps.ts';
import { FAILURE_TYPES, nonRetryable } from './errors.ts';
import { runStep } from './steps.ts';
import type { RunStepInput } from './steps.ts';
import { planFromPrompt, PromptSyntaxError } from '../shared/offline-planner.ts';
import type { Plan, RunEvent, StepResult } from '../shared/run.ts';

export interface PlanInput { runId: string; userId: string; prompt: string }
export interface PublishInput { runId: string; events: RunEvent[] }

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

    /** Runs one plan step, at most once in effect. */
    async runStep(input: RunStepInput): Promise<StepResult> {
      return runStep(deps, input);
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { RunStepInput };
