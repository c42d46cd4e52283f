/**
 * AgentRun: reserve credits → plan → approval gate → step loop (each step's and
 * each LLM call's maximum cost held before it starts, settled to the actual cost
 * after; each step reviewed by the supervisor; plan changes gated again) → settle →
 * terminal status. Failure and cancellation charge what an unfinished step used and
 * release the rest. Deterministic orchestration only; every side effect is an activity.
 * The gates live in ./gates.ts.
 */
import {
  ActivityCancellationType, allHandlersFinished, ApplicationFailure, CancellationScope, condition, ContinueAsNew, continueAsNew,
  isCancellation, log, patched, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { EventType, Plan, PlanStep, RunCarry, RunInput, RunState, RunStatus, StepResult } from '../shared/run.ts';
import { offlineDecision } from '../shared/supervisor.ts';
import type { SupervisorDecision } from '../shared/supervisor.ts';
import { actorOf, createGates, PAY_BEFORE_RUN, RunEnded } from './gates.ts';
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

/** Patch id of announcing messages signalled to Temporal directly (for the audit trail). */
export const DIRECT_MESSAGE_AUDIT = 'direct-message-audit';

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
  let waitedMs = carry?.waitedMs ?? 0;
  const startedAtMs = carry?.startedAtMs ?? Date.now();
  const messages: string[] = carry?.messages ?? [];
  let paused = false;
  /** Who paused and who resumed the run last (`actor` on the status events that follow). */
  let pausedBy = DIRECT_ACTOR;
  let resumedBy = DIRECT_ACTOR;
  let stepsThisExecution = 0;
  // Runs recorded before holds and re-approval existed replay as they ran (charged after each step).
  const payFirst = patched(PAY_BEFORE_RUN);

  setHandler(statusQuery, () => state);
  setHandler(planQuery, () => plan ?? null);
  setHandler(progressQuery, () => ({
    status: state.status, currentStep: state.currentStep ?? null, plannedSteps: plan?.steps.length ?? 0,
    completedSteps: state.completedSteps, iterations: state.iterations, maxIterations: limits.maxIterations,
    creditsCharged: state.creditsCharged, creditsReserved: state.creditsReserved, waitingFor: state.waitingFor ?? null,
  }));
  setHandler(pauseSignal, (p) => { paused = true; pausedBy = actorOf(p); });
  setHandler(resumeSignal, (r) => { paused = false; resumedBy = actorOf(r); });
  /** Messages signalled to Temporal directly (no actor): announced on the log, so the worker audits them. */
  const directMessages: string[] = [];
  setHandler(messageSignal, (m) => {
    if (typeof m?.text !== 'string' || m.text.length === 0) return;
    const text = m.text.slice(0, 4000);
    messages.push(text);
    if (actorOf(m) === DIRECT_ACTOR) directMessages.push(text);
  });

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

  const gates = createGates({ input, state, acts, emit, transition, waitFor, approvals: carry?.approvals ?? 0, payFirst });
  setHandler(approveSignal, (a) => gates.receive(a));

  const checkActivation = () => {
    const activeMs = Date.now() - startedAtMs - waitedMs;
    if (activeMs > limits.activationTimeoutMs) {
      throw new RunEnded('failed', 'activation_timeout', `the run worked for ${Math.round(activeMs / 1000)} s, over its ${limits.activationTimeoutMs / 1000} s limit`);
    }
  };

  const maybePause = async () => {
    if (!paused) return;
    await transition('paused', { actor: pausedBy });
    await waitFor(() => !paused, 365 * 24 * 3600 * 1000);
    await transition('running', { actor: resumedBy });
  };

  const makePlan = async (previous?: { results: StepResult[]; reason: string }): Promise<Plan> => {
    const callId = llmCalls++;
    const what = previous ? 'replan' : 'plan';
    const request = {
      runId, userId, prompt: input.prompt, promptRef: input.promptRef, callId, provider: input.provider, messages: [...messages],
      previous: previous && plan ? { plan, ...previous } : undefined,
    };
    const r = await gates.payLlm(what, callId, request, () => withSummary(LLM, what).plan(request));
    return { ...r.plan, steps: await gates.limitTimes(r.plan.steps, (c) => `${what} step ${c.index}`) };
  };

  const supervise = async (index: number, step: PlanStep, result: StepResult, attempt: number, isLast: boolean): Promise<SupervisorDecision> => {
    if (input.provider === 'offline') return offlineDecision(result, isLast);
    const callId = llmCalls++;
    const request = {
      runId, userId, prompt: input.prompt, promptRef: input.promptRef, callId, provider: input.provider, plan: plan!, index, step, result, attempt, isLast, messages: [...messages],
    };
    const r = await gates.payLlm(`supervise step ${index}`, callId, request, () => withSummary(LLM, `supervise step ${index}`).supervise(request));
    return r.decision;
  };

  /** Announces direct messages (histories recorded before this replay without announcing them). */
  const announceDirectMessages = async () => {
    if (directMessages.length === 0 || !patched(DIRECT_MESSAGE_AUDIT)) return;
    for (const text of directMessages.splice(0)) await emit('log', { stream: 'control', action: 'message', actor: DIRECT_ACTOR, text });
  };

  let reservedNow = carry !== undefined; // a continued run reserved in an earlier execution
  const finish = async () => {
    await announceDirectMessages();
    if (reservedNow) {
      await gates.settleOpen(state.status === 'cancelled');
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

      await gates.approvePlanChange({ kind: 'plan', before: [], after: plan.steps }, { plan: { summary: plan.summary, steps: plan.steps } });
    }

    // Step loop: retries of a step (with changes) and replans come from the supervisor.
    let attempt = 1;
    while (plan && nextIndex < plan.steps.length) {
      await announceDirectMessages();
      await maybePause();
      checkActivation();
      if (stepsThisExecution >= STEPS_PER_EXECUTION || workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        const next: RunCarry = { state, plan, nextIndex, seq, llmCalls, approvals: gates.approvals, waitedMs, startedAtMs, messages };
        return await continueAsNew<typeof AgentRun>({ ...input, carry: next });
      }
      if (state.iterations >= limits.maxIterations) {
        throw new RunEnded('failed', 'max_iterations', `the run reached MAX_ITERATIONS (${limits.maxIterations}) with ${plan.steps.length - nextIndex} step(s) left`);
      }
      const step = plan.steps[nextIndex]!;
      const exec = state.iterations++;
      stepsThisExecution += 1;
      state.currentStep = nextIndex;
      const planIndex = nextIndex;
      const result = await gates.payStep(exec, step, () => withSummary(TOOL, `step ${exec}: ${step.tool}`).runStep({ runId, userId, index: exec, planIndex, workspaceId: input.workspaceId, step }));
      state.steps = [...state.steps.slice(-(RECENT_STEPS - 1)), result];
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
        await announceDirectMessages();
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
          if (decision.step) {
            const [changed] = await gates.limitTimes([decision.step], () => `retry of step ${exec}`);
            const at = nextIndex;
            if (payFirst) {
              await gates.approvePlanChange({ kind: 'retry', before: plan.steps, after: [changed!] },
                { change: { kind: 'retry', planIndex: at, reason: decision.reason, before: [plan.steps[at]], after: [changed] } });
            }
            plan = { ...plan, steps: plan.steps.map((s, i) => (i === at ? changed! : s)) };
          }
          attempt += 1;
          break;
        case 'replan': {
          await transition('planning', { reason: decision.reason });
          const before = plan.steps;
          plan = await makePlan({ results: state.steps, reason: decision.reason });
          state.plan = plan;
          nextIndex = 0;
          attempt = 1;
          await transition('running', { plan: { summary: plan.summary, steps: plan.steps.map((s) => s.tool) } }, { plan });
          if (payFirst) {
            await gates.approvePlanChange({ kind: 'replan', before, after: plan.steps },
              { change: { kind: 'replan', reason: decision.reason, before, after: plan.steps } });
          }
          break;
        }
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
