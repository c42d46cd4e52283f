/**
 * The `plan` and `supervise` activities: provider calls with errors mapped for
 * Temporal (transient → retry, honouring retry-after; rejected → non-retryable
 * with the reason), transcripts and large contents kept in the run's workspace
 * so history only holds references.
 */
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { ActivityDeps } from './deps.ts';
import { FAILURE_TYPES, nonRetryable } from './errors.ts';
import { LlmRejectedError, LlmTransientError } from '../llm/types.ts';
import type { LlmProvider, TokenUsage } from '../llm/types.ts';
import { s3Keys } from '../shared/names.ts';
import { TOOL_NAMES } from '../shared/run.ts';
import type { Plan, PlanStep, StepResult } from '../shared/run.ts';
import type { SupervisorDecision } from '../shared/supervisor.ts';
import { readStepRecord } from '../workspace/index.ts';

/** write_file contents above this size are moved out of the plan into the workspace. */
export const INLINE_CONTENT_MAX_BYTES = 2048;

export interface LlmCallInput {
  runId: string;
  userId: string;
  prompt: string;
  promptRef?: string;
  callId: number;
  provider: 'offline' | 'anthropic';
  messages: string[];
}
export interface PlanInput extends LlmCallInput {
  previous?: { plan: Plan; results: StepResult[]; reason: string };
}
export interface SuperviseInput extends LlmCallInput {
  plan: Plan;
  index: number;
  step: PlanStep;
  result: StepResult;
  attempt: number;
  isLast: boolean;
}

async function fullPrompt(deps: ActivityDeps, input: LlmCallInput): Promise<string> {
  if (!input.promptRef) return input.prompt;
  const text = await deps.workspace.getText(input.promptRef);
  if (text === undefined) throw nonRetryable(FAILURE_TYPES.invalidPrompt, `the run's prompt is missing from the workspace (${input.promptRef})`);
  return text;
}

/** Runs a provider call with cancellation, heartbeats, and Temporal-shaped failures. */
async function providerCall<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), 5000);
  try {
    return await fn(ctx.cancellationSignal);
  } catch (err) {
    if (err instanceof LlmRejectedError) {
      const type = err.kind === 'invalid_prompt' ? FAILURE_TYPES.invalidPrompt : err.kind === 'invalid_output' ? FAILURE_TYPES.llmInvalidOutput : FAILURE_TYPES.llmRejected;
      throw nonRetryable(type, err.message, { status: err.status });
    }
    if (err instanceof LlmTransientError) {
      throw ApplicationFailure.create({
        type: FAILURE_TYPES.llmUnavailable, message: err.message, nonRetryable: false,
        nextRetryDelay: err.retryAfterMs !== undefined ? Math.max(err.retryAfterMs, 100) : undefined,
      });
    }
    throw err;
  } finally {
    clearInterval(beat);
  }
}

/** Moves large write_file contents into the workspace; the plan keeps a reference. */
async function compactPlan(deps: ActivityDeps, input: LlmCallInput, plan: Plan): Promise<Plan> {
  const steps = await Promise.all(plan.steps.map(async (step, i) => {
    if (step.tool !== 'write_file' || Buffer.byteLength(step.content) <= INLINE_CONTENT_MAX_BYTES) return step;
    const key = s3Keys.planContent(input.userId, input.runId, input.callId, i);
    await deps.workspace.put(key, step.content, { contentType: 'text/plain; charset=utf-8' });
    return { ...step, content: '', contentRef: key };
  }));
  return { ...plan, steps };
}

export function llmActivities(deps: ActivityDeps, providers: Record<'offline' | 'anthropic', LlmProvider | undefined>) {
  const provider = (name: 'offline' | 'anthropic'): LlmProvider => {
    const p = providers[name];
    if (!p) throw nonRetryable(FAILURE_TYPES.llmRejected, `this worker has no ${name} provider configured (set ANTHROPIC_API_KEY)`);
    return p;
  };
  const transcriptKey = (input: LlmCallInput, kind: string) => s3Keys.llmTranscript(input.userId, input.runId, input.callId, kind);

  return {
    /** Plans (or replans) the run with its provider. */
    async plan(input: PlanInput): Promise<{ plan: Plan; usage: TokenUsage; transcriptKey: string }> {
      const prompt = await fullPrompt(deps, input);
      const r = await providerCall((signal) => provider(input.provider).plan({
        runId: input.runId, prompt, tools: TOOL_NAMES, previous: input.previous, messages: input.messages,
      }, signal));
      const key = transcriptKey(input, input.previous ? 'replan' : 'plan');
      await deps.workspace.putJson(key, r.transcript);
      return { plan: await compactPlan(deps, input, r.value), usage: r.usage, transcriptKey: key };
    },

    /** Asks the supervisor what to do after a step. */
    async supervise(input: SuperviseInput): Promise<{ decision: SupervisorDecision; usage: TokenUsage; transcriptKey: string }> {
      const prompt = await fullPrompt(deps, input);
      // The step's output tail lives in its record (src/workspace/versions.ts), not in history: the record
      // of the execution that ran the step (a reset execution keys its records with its epoch).
      const record = await readStepRecord({ db: deps.store, objects: deps.workspace }, input.userId, input.runId, input.index, input.result.epoch);
      const outputTail = record?.outputTail;
      const r = await providerCall((signal) => provider(input.provider).supervise({
        runId: input.runId, prompt, plan: input.plan, index: input.index, step: input.step, result: { ...input.result, outputTail },
        attempt: input.attempt, isLast: input.isLast, messages: input.messages,
      }, signal));
      const key = transcriptKey(input, `supervise-${input.index}`);
      await deps.workspace.putJson(key, r.transcript);
      return { decision: r.value, usage: r.usage, transcriptKey: key };
    },
  };
}
