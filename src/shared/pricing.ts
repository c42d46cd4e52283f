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
  /** LLM calls: per started 1,000 billed tokens (input + output; cache reads count a tenth). */
  llmPer1kTokens: 1,
} as const;

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

export function billedTokens(u: TokenUsage): number {
  return u.inputTokens + u.outputTokens + u.cacheWriteTokens + Math.ceil(u.cacheReadTokens / 10);
}

export function llmCredits(u: TokenUsage): number {
  const tokens = billedTokens(u);
  return tokens === 0 ? 0 : PRICES.llmPer1kTokens * Math.ceil(tokens / 1000);
}

export function stepCredits(step: PlanStep, result: Pick<StepResult, 'durationMs'>): number {
  switch (step.tool) {
    case 'shell':
    case 'code':
      return PRICES.stepBase + PRICES.shellPer10s * Math.max(1, Math.ceil(result.durationMs / 10_000));
    // Workspace file tools: one request-sized operation each (bytes are bounded by WORKSPACE_FILE_MAX_BYTES).
    case 'write_file':
    case 'read_file':
    case 'list_files':
    case 'stat_file':
    case 'delete_file':
      return PRICES.stepBase;
  }
}
