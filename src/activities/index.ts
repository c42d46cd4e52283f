/**
 * The activity factory: every side effect of a run, built from the clients the
 * worker creates once. Workflows import the `Activities` type only.
 */
import { Context } from '@temporalio/activity';
import type { ActivityDeps } from './deps.ts';
import { creditActivities } from './credits.ts';
import type { HoldInput } from './credits.ts';
import { llmActivities } from './llm.ts';
import { runPaidStep } from './paid-step.ts';
import { reopening } from './reopen.ts';
import { recordActivities } from './records.ts';
import type { PaidStep, RunPaidStepInput } from './paid-step.ts';
import { runStep } from './steps.ts';
import type { RunStepInput } from './steps.ts';
import type { LlmProvider } from '../llm/types.ts';
import { offlineProvider } from '../llm/offline.ts';
import type { StepResult } from '../shared/run.ts';
import type { CreditResult } from '../store/types.ts';

/** A direct charge has the shape of a hold: run, step (or null for an LLM call), amount, tokens, idempotency key, what. */
export type ChargeInput = HoldInput;

/** What a retention sweep reports (counts, and the first workspaces deleted). */
export interface RetentionSweepResult { cutoff: string; scanned: number; deleted: number; kept: number; deletedWorkspaces: string[] }

export function createActivities(deps: ActivityDeps, providers: { anthropic?: LlmProvider } = {}) {
  const llm = llmActivities(deps, { offline: offlineProvider, anthropic: providers.anthropic });
  return reopening(deps, {
    ...llm,
    ...creditActivities(deps),
    ...recordActivities(deps, (input) => llm.plan(input)),

    /** Runs one plan step, at most once in effect. */
    async runStep(input: RunStepInput): Promise<StepResult> {
      return runStep(deps, input);
    },

    /** Runs one plan step paid in the same call: held before, settled after (src/activities/paid-step.ts). */
    async runPaidStep(input: RunPaidStepInput): Promise<PaidStep> {
      return runPaidStep(deps, input);
    },

    /** Charges a step or an LLM call against the run's reservation, and says so on the run's log. */
    async charge(input: ChargeInput): Promise<CreditResult> {
      const r = await deps.store.charge(input.runId, input.index, input.amount, input.tokens, input.key);
      if (r.ok) {
        await deps.events.append(input.runId, [{
          key: `usage:${input.key}`, type: 'usage',
          data: { index: input.index, what: input.what, credits: input.amount, tokens: input.tokens, runCharged: r.run_charged, runReserved: r.run_reserved },
        }]);
      }
      return r;
    },

    /** Adds approved credits to the run's reservation. */
    async extendReservation(input: { runId: string; amount: number; key: string }): Promise<CreditResult> {
      return deps.store.extend(input.runId, input.amount, input.key);
    },

    /** One sweep of the workspace retention policy (the WorkspaceRetention schedule runs it). */
    async pruneWorkspaces(input: { retentionDays: number; userIds?: string[] }): Promise<RetentionSweepResult> {
      const ctx = Context.current();
      const r = await deps.workspace.prune(deps.store, {
        retentionDays: input.retentionDays, userIds: input.userIds, onProgress: (scanned) => ctx.heartbeat({ scanned }),
      }, deps.log);
      return {
        cutoff: r.cutoff, scanned: r.scanned, deleted: r.deleted.length, kept: r.kept.length,
        deletedWorkspaces: r.deleted.slice(0, 100).map((d) => `${d.userId}/${d.runId}`),
      };
    },
  });
}

export type Activities = ReturnType<typeof createActivities>;
export type { PaidStep, RunPaidStepInput, RunStepInput };
export type { CloseRunInput, OpenPlan, OpenRunInput, OpenRunResult, PublishInput, TransitionInput } from './records.ts';
export type { StepPayment } from './paid-step.ts';
