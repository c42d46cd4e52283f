/**
 * AgentRun: plan → one activity per step → terminal status. Deterministic
 * orchestration only; every side effect is an activity.
 */
import {
  ApplicationFailure, CancellationScope, isCancellation, log, proxyActivities, setHandler, upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { EventType, RunInput, RunState, RunStatus } from '../shared/run.ts';
import { searchAttributes, statusQuery } from './definitions.ts';

/** Short calls: planning and event publishing. */
const { plan, publish } = proxyActivities<Activities>({
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
}

export async function AgentRun(input: RunInput): Promise<RunResult> {
  const state: RunState = { runId: input.runId, userId: input.userId, status: 'queued', steps: [] };
  setHandler(statusQuery, () => state);

  let seq = 0;
  const emit = (type: EventType, data: Record<string, unknown>) =>
    publish({ runId: input.runId, events: [{ key: `wf:${seq++}`, type, data }] });
  const transition = async (status: RunStatus, extra: Record<string, unknown> = {}) => {
    state.status = status;
    upsertSearchAttributes([{ key: searchAttributes.agentStatus, value: status }]);
    await emit('status', { status, ...extra });
  };
  const finish = async () => {
    await transition(state.status, state.error ? { error: state.error } : {});
    await emit('end', { status: state.status, steps: state.steps.length, ...(state.error ? { error: state.error } : {}) });
  };

  try {
    await transition('planning');
    const p = await plan({ runId: input.runId, userId: input.userId, prompt: input.prompt });
    state.plan = p;
    await transition('running', { plan: { summary: p.summary, steps: p.steps.map((s) => s.tool) } });
    for (const [index, step] of p.steps.entries()) {
      state.currentStep = index;
      const result = await runStep({ runId: input.runId, userId: input.userId, index, step });
      state.steps.push(result);
      if (!result.ok) throw ApplicationFailure.nonRetryable(`step ${index} (${step.tool}) failed: ${result.summary}`, 'StepFailed');
    }
    state.currentStep = undefined;
    state.status = 'completed';
    await finish();
    return { status: state.status, steps: state.steps.length };
  } catch (err) {
    if (isCancellation(err)) {
      state.status = 'cancelled';
      await CancellationScope.nonCancellable(finish);
      throw err;
    }
    const failure = err instanceof ApplicationFailure ? err : (err as { cause?: unknown }).cause;
    const code = failure instanceof ApplicationFailure && failure.type ? failure.type : 'RunFailed';
    const message = failure instanceof Error ? failure.message : String(err);
    state.status = 'failed';
    state.error = { code, message };
    log.warn('run failed', { runId: input.runId, code, message });
    await finish();
    throw ApplicationFailure.nonRetryable(message, code);
  }
}
