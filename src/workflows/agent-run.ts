/**
 * AgentRun: reserve credits → plan → one activity per step, each charged as it
 * finishes → settle → terminal status. Failure and cancellation release what
 * was not used. Deterministic orchestration only; every side effect is an activity.
 */
import {
  ApplicationFailure, CancellationScope, isCancellation, log, proxyActivities, setHandler, upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { stepCredits } from '../shared/pricing.ts';
import type { EventType, RunInput, RunState, RunStatus } from '../shared/run.ts';
import { searchAttributes, statusQuery } from './definitions.ts';

/** Short calls: planning, records, events, credits. */
const acts = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
});

/** Tool steps: long, heartbeating, so a dead worker is noticed within seconds. */
const { runStep } = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});

export interface RunResult {
  status: RunStatus;
  steps: number;
  creditsCharged: number;
}

/** Ends the run as failed with a reason (the failure type operators see in the Web UI). */
class RunRefused extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export async function AgentRun(input: RunInput): Promise<RunResult> {
  const state: RunState = { runId: input.runId, userId: input.userId, status: 'queued', steps: [], creditsCharged: 0 };
  setHandler(statusQuery, () => state);

  let seq = 0;
  const key = () => `wf:${seq++}`;
  const emit = (type: EventType, data: Record<string, unknown>) =>
    acts.publish({ runId: input.runId, events: [{ key: key(), type, data }] });
  const transition = async (status: RunStatus, data: Record<string, unknown> = {}, fields = {}) => {
    state.status = status;
    upsertSearchAttributes([{ key: searchAttributes.agentStatus, value: status }]);
    await acts.transition({ runId: input.runId, status, eventKey: key(), data, fields });
  };
  let reserved = false;
  const finish = async () => {
    if (reserved) {
      if (state.status === 'completed') await acts.settleCredits({ runId: input.runId });
      else await acts.releaseCredits({ runId: input.runId });
    }
    const error = state.error ? { error: state.error } : {};
    await transition(state.status, error, { error: state.error ?? null, result_summary: `${state.steps.length} step(s), ${state.creditsCharged} credit(s)` });
    await emit('end', { status: state.status, steps: state.steps.length, credits: state.creditsCharged, ...error });
  };

  try {
    const reservation = await acts.reserveCredits({ runId: input.runId, userId: input.userId, amount: input.creditReservation });
    if (!reservation.ok) throw new RunRefused(reservation.reason, reservation.message);
    reserved = true;

    await transition('planning');
    const p = await acts.plan({ runId: input.runId, userId: input.userId, prompt: input.prompt });
    state.plan = p;
    await transition('running', { plan: { summary: p.summary, steps: p.steps.map((s) => s.tool) } }, { plan: p });
    for (const [index, step] of p.steps.entries()) {
      state.currentStep = index;
      const result = await runStep({ runId: input.runId, userId: input.userId, index, step });
      state.steps.push(result);
      const charge = await acts.chargeStep({ runId: input.runId, index, amount: stepCredits(step, result), tokens: 0 });
      if (!charge.ok) throw new RunRefused(charge.reason, charge.message);
      state.creditsCharged = charge.run_charged ?? state.creditsCharged;
      if (!result.ok) throw new RunRefused('StepFailed', `step ${index} (${step.tool}) failed: ${result.summary}`);
    }
    state.currentStep = undefined;
    state.status = 'completed';
    await finish();
    return { status: state.status, steps: state.steps.length, creditsCharged: state.creditsCharged };
  } catch (err) {
    if (isCancellation(err)) {
      state.status = 'cancelled';
      await CancellationScope.nonCancellable(finish);
      throw err;
    }
    let code = 'RunFailed';
    let message = String(err);
    if (err instanceof RunRefused) {
      code = err.code;
      message = err.message;
    } else {
      const failure = err instanceof ApplicationFailure ? err : (err as { cause?: unknown }).cause;
      if (failure instanceof ApplicationFailure && failure.type) code = failure.type;
      if (failure instanceof Error) message = failure.message;
    }
    state.status = 'failed';
    state.error = { code, message };
    log.warn('run failed', { runId: input.runId, code, message });
    await finish();
    throw ApplicationFailure.nonRetryable(message, code);
  }
}
