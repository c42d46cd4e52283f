/**
 * Supervisor decisions: what happens after each step. The schema validates what
 * a model returns; `offlineDecision` is the deterministic supervisor of the
 * offline provider. Pure, safe in workflow code.
 */
import { z } from 'zod';
import { planStep } from './run.ts';
import type { StepResult } from './run.ts';

export const supervisorDecision = z.discriminatedUnion('action', [
  z.object({ action: z.literal('continue'), reason: z.string().max(2000) }),
  z.object({ action: z.literal('retry'), reason: z.string().max(2000), step: planStep.optional() }),
  z.object({ action: z.literal('replan'), reason: z.string().max(2000) }),
  z.object({ action: z.literal('finish'), reason: z.string().max(2000), outcome: z.enum(['completed', 'failed']) }),
  z.object({ action: z.literal('ask_human'), reason: z.string().max(2000), question: z.string().min(1).max(2000) }),
]);
export type SupervisorDecision = z.infer<typeof supervisorDecision>;

/** Offline supervisor: continue after a success, finish after the last step, fail the run on a failed step. */
export function offlineDecision(result: StepResult, isLast: boolean): SupervisorDecision {
  if (!result.ok) return { action: 'finish', outcome: 'failed', reason: result.summary };
  return isLast ? { action: 'finish', outcome: 'completed', reason: 'all steps done' } : { action: 'continue', reason: 'step succeeded' };
}
