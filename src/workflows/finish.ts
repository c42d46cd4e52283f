/**
 * How AgentRun ends: what ended it (completion, a RunEnded, a failed activity,
 * cancellation) becomes the run's status and error; credits are settled, the
 * final status recorded and the `end` event published.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { RunStatus } from '../shared/run.ts';
import { RunEnded } from './context.ts';
import type { RunContext } from './context.ts';
import type { Gates } from './gates.ts';

export interface RunResult {
  status: RunStatus;
  steps: number;
  creditsCharged: number;
  error?: { code: string; message: string };
}

/** The status and error a run that stopped on `err` ends with (not a cancellation: that is the operator's). */
export function endingOf(err: unknown): { status: 'failed' | 'cancelled'; code: string; message: string } {
  if (err instanceof RunEnded) return { status: err.status, code: err.code, message: err.message };
  let code = 'RunFailed';
  let message = String(err);
  const failure = err instanceof ApplicationFailure ? err : (err as { cause?: unknown }).cause;
  if (failure instanceof ApplicationFailure && failure.type) code = failure.type;
  if (failure instanceof Error) message = failure.message;
  return { status: 'failed', code, message };
}

/** Ends the run at the status and error its state holds: credits closed, record updated, `end` published. */
export async function finish(run: RunContext, gates: Gates): Promise<RunResult> {
  const { s } = run;
  // Messages go with the closing call, unless a hold is still open: it says what it charged first, so they go now.
  await run.announceDirectMessages(run.oneCallEnds && !s.openHold ? s.closing : undefined);
  const error = s.state.error ? { error: s.state.error } : {};
  s.state.currentStep = undefined;
  // After the open hold was settled: what it charged counts.
  const fields = () => ({
    error: s.state.error ?? null, result_summary: `${s.state.completedSteps} step(s) completed, ${s.state.creditsCharged} credit(s) charged`,
  });
  const endData = () => ({ status: s.state.status, steps: s.state.completedSteps, credits: s.state.creditsCharged, ...error });
  if (run.oneCallEnds) {
    await gates.closeHold();
    const transition = run.transitionInput(s.state.status, error, fields());
    run.markStatus(s.state.status);
    const before = s.closing.splice(0);
    await run.calls.closeRun({ runId: run.input.runId, userId: run.input.userId, before, credits: gates.reservationEnd(), transition, end: run.event('end', endData()) });
  } else {
    await gates.close();
    await run.transition(s.state.status, error, fields());
    await run.emit('end', endData());
  }
  s.ended = true;
  return { status: s.state.status, steps: s.state.completedSteps, creditsCharged: s.state.creditsCharged, ...(s.state.error ? { error: s.state.error } : {}) };
}
