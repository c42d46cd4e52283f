/**
 * AgentRun: reserve credits → plan → approval gate → step loop (each step an
 * activity, charged as it finishes, reviewed by the supervisor) → settle →
 * terminal status. Failure and cancellation release what was not used.
 * Deterministic orchestration only; every side effect is an activity.
 */
import {
  ActivityCancellationType, allHandlersFinished, ApplicationFailure, CancellationScope, condition, ContinueAsNew, continueAsNew,
  isCancellation, log, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { llmCredits, stepCredits } from '../shared/pricing.ts';
import type { TokenUsage } from '../shared/pricing.ts';
import type { EventType, Plan, PlanStep, RunCarry, RunInput, RunState, RunStatus, StepResult } from '../shared/run.ts';
import { offlineDecision } from '../shared/supervisor.ts';
import type { SupervisorDecision } from '../shared/supervisor.ts';
import type { ApproveSignal } from './definitions.ts';
import {
  approveSignal, DIRECT_ACTOR, messageSignal, pauseSignal, planQuery, progressQuery, resumeSignal, searchAttributes, statusQuery,
} from './definitions.ts';

/** Short calls: records, events, credits. */
const SHORT = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
} as const;
/** LLM calls: the provider's own timeout inside; heartbeats so cancellation reaches them. */
const LLM = {
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8 },
} as const;
/** Tool steps: long, heartbeating, so a dead worker is noticed within seconds; cancellation waits until the tool stopped. */
const TOOL = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
} as const;

const acts = proxyActivities<Activities>(SHORT);
const withSummary = <O extends object>(opts: O, summary: string) => proxyActivities<Activities>({ ...opts, summary });

/** Steps per workflow execution before continuing as new (history stays far below Temporal's warning limits). */
export const STEPS_PER_EXECUTION = 100;
/** Recent step results kept in workflow state (older ones live in the workspace and the database). */
const RECENT_STEPS = 20;

export interface RunResult {
  status: RunStatus;
  steps: number;
  creditsCharged: number;
  error?: { code: string; message: string };
}

/** The sender a signal names (the API sets it), else DIRECT_ACTOR. */
const actorOf = (s: { actor?: unknown } | undefined): string => (typeof s?.actor === 'string' && s.actor.length > 0 ? s.actor.slice(0, 200) : DIRECT_ACTOR);

/** Ends the run with a status and a reason. */
class RunEnded extends Error {
  readonly status: 'failed' | 'cancelled';
  readonly code: string;
  constructor(status: 'failed' | 'cancelled', code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function AgentRun(input: RunInput): Promise<RunResult> {
  const { runId, userId, limits } = input;
  const carry: RunCarry | undefined = input.carry;
  const state: RunState = carry?.state ?? {
    runId, userId, status: 'queued', steps: [], creditsCharged: 0, creditsReserved: 0, iterations: 0, completedSteps: 0,
  };
  let plan: Plan | undefined = carry?.plan;
  let nextIndex = carry?.nextIndex ?? 0;
  let seq = carry?.seq ?? 0;
  let llmCalls = carry?.llmCalls ?? 0;
  let approvals = carry?.approvals ?? 0;
  let waitedMs = carry?.waitedMs ?? 0;
  const startedAtMs = carry?.startedAtMs ?? Date.now();
  const messages: string[] = carry?.messages ?? [];
  let paused = false;
  /** Who paused and who resumed the run last (`actor` on the status events that follow). */
  let pausedBy = DIRECT_ACTOR;
  let resumedBy = DIRECT_ACTOR;
  let pendingApproval: ApproveSignal | undefined;
  let stepsThisExecution = 0;

  setHandler(statusQuery, () => state);
  setHandler(planQuery, () => plan ?? null);
  setHandler(progressQuery, () => ({
    status: state.status, currentStep: state.currentStep ?? null, plannedSteps: plan?.steps.length ?? 0,
    completedSteps: state.completedSteps, iterations: state.iterations, maxIterations: limits.maxIterations,
    creditsCharged: state.creditsCharged, creditsReserved: state.creditsReserved, waitingFor: state.waitingFor ?? null,
  }));
  setHandler(approveSignal, (a) => { pendingApproval = a; });
  setHandler(pauseSignal, (p) => { paused = true; pausedBy = actorOf(p); });
  setHandler(resumeSignal, (r) => { paused = false; resumedBy = actorOf(r); });
  setHandler(messageSignal, (m) => { if (typeof m?.text === 'string' && m.text.length > 0) messages.push(m.text.slice(0, 4000)); });

  const key = () => `wf:${seq++}`;
  const emit = (type: EventType, data: Record<string, unknown>) => acts.publish({ runId, events: [{ key: key(), type, data }] });
  const transition = async (status: RunStatus, data: Record<string, unknown> = {}, fields = {}) => {
    state.status = status;
    upsertSearchAttributes([{ key: searchAttributes.agentStatus, value: status }]);
    await acts.transition({ runId, status, eventKey: key(), data, fields });
  };

  /** Waits for a human with the clock of active work stopped. */
  const waitFor = async (until: () => boolean, timeoutMs: number): Promise<boolean> => {
    const t0 = Date.now();
    try {
      return await condition(until, timeoutMs);
    } finally {
      waitedMs += Date.now() - t0;
    }
  };

  const checkActivation = () => {
    const activeMs = Date.now() - startedAtMs - waitedMs;
    if (activeMs > limits.activationTimeoutMs) {
      throw new RunEnded('failed', 'activation_timeout', `the run worked for ${Math.round(activeMs / 1000)} s, over its ${limits.activationTimeoutMs / 1000} s limit`);
    }
  };

  /** The approval gate: waits for `approve`; a rejection or the timeout cancels the run. */
  const awaitApproval = async (kind: 'approval' | 'budget', detail: string, extra: Record<string, unknown> = {}): Promise<ApproveSignal> => {
    pendingApproval = undefined;
    state.waitingFor = { kind, detail };
    await transition('awaiting_approval', { waitingFor: state.waitingFor });
    await emit('approval', { kind, detail, ...extra });
    const got = await waitFor(() => pendingApproval !== undefined, limits.approvalTimeoutMs);
    state.waitingFor = undefined;
    if (!got) throw new RunEnded('cancelled', 'approval_timeout', `no approval within ${limits.approvalTimeoutMs / 1000} s (${detail})`);
    const decision = pendingApproval!;
    pendingApproval = undefined;
    approvals += 1;
    await emit('approval', { kind, approved: decision.approved, comment: decision.comment ?? null, actor: actorOf(decision) });
    if (!decision.approved) throw new RunEnded('cancelled', 'rejected', decision.comment ? `rejected: ${decision.comment}` : 'rejected by an operator');
    await transition('running');
    return decision;
  };

  const maybePause = async () => {
    if (!paused) return;
    await transition('paused', { actor: pausedBy });
    await waitFor(() => !paused, 365 * 24 * 3600 * 1000);
    await transition('running', { actor: resumedBy });
  };

  /** Charges credits; when the run's budget is exhausted, waits for approval to extend it instead of overspending. */
  const charge = async (index: number | null, amount: number, tokens: number, chargeKey: string, what: string) => {
    for (;;) {
      const r = await acts.charge({ runId, index, amount, tokens, key: chargeKey, what });
      if (r.ok) {
        state.creditsCharged = r.run_charged ?? state.creditsCharged + amount;
        return;
      }
      if (r.reason !== 'budget_exhausted') throw new RunEnded('failed', r.reason, r.message);
      const approval = await awaitApproval('budget', r.message, { needed: amount });
      const extra = approval.extraCredits && approval.extraCredits > 0 ? Math.floor(approval.extraCredits) : input.creditReservation;
      const ext = await acts.extendReservation({ runId, amount: extra, key: `extend:${runId}:${approvals}` });
      if (!ext.ok) throw new RunEnded('failed', ext.reason, ext.message);
      state.creditsReserved = ext.run_reserved ?? state.creditsReserved + extra;
    }
  };

  const chargeLlm = async (usage: TokenUsage, what: string, callId: number) => {
    const credits = llmCredits(usage);
    const tokens = usage.inputTokens + usage.outputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
    if (credits > 0 || tokens > 0) await charge(null, credits, tokens, `charge:${runId}:llm:${callId}`, what);
  };

  const makePlan = async (previous?: { results: StepResult[]; reason: string }): Promise<Plan> => {
    const callId = llmCalls++;
    const r = await withSummary(LLM, previous ? 'replan' : 'plan').plan({
      runId, userId, prompt: input.prompt, promptRef: input.promptRef, callId, provider: input.provider, messages: [...messages],
      previous: previous && plan ? { plan, ...previous } : undefined,
    });
    await chargeLlm(r.usage, previous ? 'replan' : 'plan', callId);
    return r.plan;
  };

  const supervise = async (index: number, step: PlanStep, result: StepResult, attempt: number, isLast: boolean): Promise<SupervisorDecision> => {
    if (input.provider === 'offline') return offlineDecision(result, isLast);
    const callId = llmCalls++;
    const r = await withSummary(LLM, `supervise step ${index}`).supervise({
      runId, userId, prompt: input.prompt, promptRef: input.promptRef, callId, provider: input.provider, plan: plan!, index, step, result, attempt, isLast, messages: [...messages],
    });
    await chargeLlm(r.usage, `supervise step ${index}`, callId);
    return r.decision;
  };

  let reservedNow = carry !== undefined; // a continued run reserved in an earlier execution
  const finish = async () => {
    if (reservedNow) {
      if (state.status === 'completed') await acts.settleCredits({ runId });
      else await acts.releaseCredits({ runId });
    }
    const error = state.error ? { error: state.error } : {};
    state.currentStep = undefined;
    await transition(state.status, error, {
      error: state.error ?? null, result_summary: `${state.completedSteps} step(s) completed, ${state.creditsCharged} credit(s) charged`,
    });
    await emit('end', { status: state.status, steps: state.completedSteps, credits: state.creditsCharged, ...error });
  };

  try {
    if (!carry) {
      const reservation = await acts.reserveCredits({ runId, userId, amount: input.creditReservation });
      if (!reservation.ok) throw new RunEnded('failed', reservation.reason, reservation.message);
      reservedNow = true;
      state.creditsReserved = input.creditReservation;

      await transition('planning');
      plan = await makePlan();
      state.plan = plan;
      await transition('running', { plan: { summary: plan.summary, steps: plan.steps.map((s) => s.tool) } }, { plan });

      const gated = plan.steps.map((s) => s.tool).filter((t) => limits.approvalTools.includes(t));
      if (input.requireApproval || gated.length > 0) {
        await awaitApproval('approval', input.requireApproval ? 'the run asks for approval of its plan' : `the plan uses ${[...new Set(gated)].join(', ')}`,
          { plan: { summary: plan.summary, steps: plan.steps } });
      }
    }

    // Step loop: retries of a step (with changes) and replans come from the supervisor.
    let attempt = 1;
    while (plan && nextIndex < plan.steps.length) {
      await maybePause();
      checkActivation();
      if (stepsThisExecution >= STEPS_PER_EXECUTION || workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        const next: RunCarry = { state, plan, nextIndex, seq, llmCalls, approvals, waitedMs, startedAtMs, messages };
        return await continueAsNew<typeof AgentRun>({ ...input, carry: next });
      }
      if (state.iterations >= limits.maxIterations) {
        throw new RunEnded('failed', 'max_iterations', `the run reached MAX_ITERATIONS (${limits.maxIterations}) with ${plan.steps.length - nextIndex} step(s) left`);
      }
      const step = plan.steps[nextIndex]!;
      const exec = state.iterations++;
      stepsThisExecution += 1;
      state.currentStep = nextIndex;
      const result = await withSummary(TOOL, `step ${exec}: ${step.tool}`).runStep({ runId, userId, index: exec, planIndex: nextIndex, workspaceId: input.workspaceId, step });
      state.steps = [...state.steps.slice(-(RECENT_STEPS - 1)), result];
      await charge(exec, stepCredits(step, result), 0, `charge:${runId}:${exec}`, `step ${exec} (${step.tool})`);
      if (result.ok) state.completedSteps += 1;

      let decision = await supervise(exec, step, result, attempt, nextIndex === plan.steps.length - 1);
      while (decision.action === 'ask_human') {
        const before = messages.length;
        state.waitingFor = { kind: 'question', detail: decision.question };
        await transition('awaiting_approval', { waitingFor: state.waitingFor });
        await emit('approval', { kind: 'question', question: decision.question });
        const answered = await waitFor(() => messages.length > before, limits.humanReplyTimeoutMs);
        state.waitingFor = undefined;
        if (!answered) throw new RunEnded('cancelled', 'human_reply_timeout', `no answer within ${limits.humanReplyTimeoutMs / 1000} s to: ${decision.question}`);
        await transition('running');
        decision = await supervise(exec, step, result, attempt, nextIndex === plan.steps.length - 1);
      }
      if (input.provider !== 'offline' || decision.action !== 'continue') {
        await emit('log', { stream: 'supervisor', index: exec, decision: decision.action, reason: decision.reason });
      }
      switch (decision.action) {
        case 'continue':
          nextIndex += 1;
          attempt = 1;
          break;
        case 'retry':
          if (decision.step) plan = { ...plan, steps: plan.steps.map((s, i) => (i === nextIndex ? decision.step! : s)) };
          attempt += 1;
          break;
        case 'replan':
          await transition('planning', { reason: decision.reason });
          plan = await makePlan({ results: state.steps, reason: decision.reason });
          state.plan = plan;
          nextIndex = 0;
          attempt = 1;
          await transition('running', { plan: { summary: plan.summary, steps: plan.steps.map((s) => s.tool) } }, { plan });
          break;
        case 'finish':
          if (decision.outcome === 'failed') {
            throw new RunEnded('failed', result.ok ? 'SupervisorFailed' : 'StepFailed', result.ok ? decision.reason : `step ${exec} (${step.tool}) failed: ${result.summary}`);
          }
          nextIndex = plan.steps.length;
          break;
      }
    }
    state.status = 'completed';
    await finish();
    return { status: state.status, steps: state.completedSteps, creditsCharged: state.creditsCharged };
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    if (isCancellation(err)) {
      state.status = 'cancelled';
      state.error = { code: 'cancelled', message: 'cancelled by an operator' };
      await CancellationScope.nonCancellable(finish);
      throw err;
    }
    let code = 'RunFailed';
    let message = String(err);
    let status: 'failed' | 'cancelled' = 'failed';
    if (err instanceof RunEnded) {
      ({ code, message, status } = err);
    } else {
      const failure = err instanceof ApplicationFailure ? err : (err as { cause?: unknown }).cause;
      if (failure instanceof ApplicationFailure && failure.type) code = failure.type;
      if (failure instanceof Error) message = failure.message;
    }
    state.status = status;
    state.error = { code, message };
    log.warn('run ended', { runId, status, code, message });
    await finish();
    // A run cancelled by its own rules (rejected, timed out waiting) completes with that outcome;
    // a failed run fails the workflow, so the Web UI shows it as Failed with its reason.
    if (status === 'cancelled') return { status, steps: state.completedSteps, creditsCharged: state.creditsCharged, error: state.error };
    throw ApplicationFailure.nonRetryable(message, code);
  }
}
