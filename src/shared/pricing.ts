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
  /** A browser step: a page in a fresh, jailed Chromium (flat, so it is held exactly before it starts). */
  browserPage: 3,
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
    case 'fetch_url':
    case 'web_search':
    case 'mcp':
      return PRICES.stepBase;
    case 'browser':
      return PRICES.browserPage;
  }
}

/** Time limits of shell and code steps: the default, and the most a plan may ask for. */
export interface StepTimeLimits { defaultMs: number; maxMs: number }

/** A shell or code step's effective time limit: its own `timeoutMs` (or the default), never above the maximum. */
export function stepTimeoutMs(step: PlanStep, limits: StepTimeLimits): number | undefined {
  if (step.tool !== 'shell' && step.tool !== 'code') return undefined;
  return Math.min(step.timeoutMs ?? limits.defaultMs, limits.maxMs);
}

/** The most a step can cost: shell and code at their time limit, file tools their base price. Held before it starts. */
export function stepMaxCredits(step: PlanStep, limits: StepTimeLimits): number {
  return stepCredits(step, { durationMs: stepTimeoutMs(step, limits) ?? 0 });
}

/**
 * Bytes of an LLM request the workflow does not see: system prompt and tool schema (about
 * 4 KB), the step output tail the supervisor reads (2 × 4,000 characters, at most 24 KB)
 * and message framing. A unit test checks real requests against it.
 */
export const LLM_REQUEST_OVERHEAD_BYTES = 32_000;

/** UTF-8 length of a string (no Buffer or TextEncoder in workflow code). */
export function utf8Bytes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) { n += 4; i++; } else n += 3;
  }
  return n;
}

/**
 * The most an LLM call can bill: `max_tokens` of output plus its input, bounded by the
 * request's size in bytes (a token covers at least one byte of text) and the fixed overhead.
 */
export function llmMaxCost(o: { maxTokens: number; inputBytes: number }): { tokens: number; credits: number } {
  const tokens = o.maxTokens + o.inputBytes + LLM_REQUEST_OVERHEAD_BYTES;
  return { tokens, credits: PRICES.llmPer1kTokens * Math.ceil(tokens / 1000) };
}

/** What a step cancelled or failed mid-way is charged: its price for the time it ran (at least the base price), at most its hold. */
export function partialStepCredits(step: PlanStep, elapsedMs: number, held: number): number {
  return Math.min(held, stepCredits(step, { durationMs: Math.max(0, elapsedMs) }));
}

/** What an LLM call cancelled mid-way is charged: one started 1,000 tokens (its usage is unknown), at most its hold. A call the provider refused is charged nothing. */
export function partialLlmCredits(held: number): number {
  return Math.min(held, PRICES.llmPer1kTokens);
}
