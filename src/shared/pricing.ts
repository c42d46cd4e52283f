/**
 * What a step costs, in credits. Pure and deterministic (the workflow calls it),
 * so a replay always charges the same amount under the same idempotency key.
 */
import type { PlanStep, StepResult } from './run.ts';

export const PRICES = {
  /** Every step, whatever the tool. */
  stepBase: 1,
  /** Shell steps: per started 10 s of wall-clock time. */
  shellPer10s: 1,
} as const;

export function stepCredits(step: PlanStep, result: Pick<StepResult, 'durationMs'>): number {
  if (step.tool === 'shell') return PRICES.stepBase + PRICES.shellPer10s * Math.max(1, Math.ceil(result.durationMs / 10_000));
  return PRICES.stepBase;
}
