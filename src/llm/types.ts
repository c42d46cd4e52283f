/** The provider interface the `plan` and `supervise` activities use. */
import type { TokenUsage } from '../shared/pricing.ts';
import type { Plan, PlanStep, StepResult, ToolName } from '../shared/run.ts';
import type { SupervisorDecision } from '../shared/supervisor.ts';

export type { TokenUsage };

export interface PlanRequest {
  runId: string;
  prompt: string;
  tools: readonly ToolName[];
  /** Set when replanning: what was planned and what happened so far. */
  previous?: { plan: Plan; results: StepResult[]; reason: string };
  messages: string[];
}

export interface SuperviseRequest {
  runId: string;
  prompt: string;
  plan: Plan;
  index: number;
  step: PlanStep;
  result: StepResult & { outputTail?: string };
  attempt: number;
  isLast: boolean;
  messages: string[];
}

export interface LlmCall<T> {
  value: T;
  usage: TokenUsage;
  /** Request and reply, for the run's workspace (never for history). */
  transcript: unknown;
}

export interface LlmProvider {
  readonly name: 'offline' | 'anthropic';
  plan(req: PlanRequest, signal: AbortSignal): Promise<LlmCall<Plan>>;
  supervise(req: SuperviseRequest, signal: AbortSignal): Promise<LlmCall<SupervisorDecision>>;
}

/** Thrown for a provider answer that can never succeed on retry (bad request, auth, invalid output). */
export class LlmRejectedError extends Error {
  readonly kind: 'request_rejected' | 'invalid_output' | 'invalid_prompt';
  readonly status?: number;
  constructor(kind: LlmRejectedError['kind'], message: string, status?: number) {
    super(message);
    this.name = 'LlmRejectedError';
    this.kind = kind;
    this.status = status;
  }
}

/** Thrown for a transient provider failure; `retryAfterMs` comes from the server when it said so. */
export class LlmTransientError extends Error {
  readonly status?: number;
  readonly retryAfterMs?: number;
  constructor(message: string, status?: number, retryAfterMs?: number) {
    super(message);
    this.name = 'LlmTransientError';
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

export const ZERO_USAGE: TokenUsage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };
