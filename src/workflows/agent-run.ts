/**
 * AgentRun: reserve credits → plan → approval gate → step loop (each step's and
 * each LLM call's maximum cost held before it starts, settled to the actual cost
 * after; each step reviewed by the supervisor; plan changes gated again) → settle →
 * terminal status. Failure and cancellation charge what an unfinished step used and
 * release the rest. Deterministic orchestration only; every side effect is an activity.
 *
 * The run's state is one value (./state.ts), carried whole across continue-as-new;
 * its parts: ./handlers.ts (queries, signals), ./gates.ts (credits, approvals),
 * ./planning.ts (LLM calls), ./step-loop.ts (steps), ./finish.ts (the end).
 */
import {
  allHandlersFinished, ApplicationFailure, CancellationScope, CancelledFailure, condition, continueAsNew, ContinueAsNew, isCancellation, log, patched, workflowInfo,
} from '@temporalio/workflow';
import type { RunInput } from '../shared/run.ts';
import { createContext } from './context.ts';
import { endingOf, finish } from './finish.ts';
import type { RunResult } from './finish.ts';
import { createGates } from './gates.ts';
import { setHandlers } from './handlers.ts';
import { CANCEL_WINS } from './patches.ts';
import { createPlanner } from './planning.ts';
import { endAs, fromCarry, resetEpoch, toCarry } from './state.ts';
import { runSteps } from './step-loop.ts';

export type { RunResult } from './finish.ts';

export async function AgentRun(input: RunInput): Promise<RunResult> {
  const s = fromCarry(input, Date.now());
  s.epoch = resetEpoch(workflowInfo(), s.epoch);
  const run = createContext(input, s);
  setHandlers(input, s);
  const gates = createGates(run);
  const planner = createPlanner(run, gates);

  try {
    if (input.carry === undefined) {
      await planner.first(await gates.reserve(planner.opening()));
    }
    if (await runSteps(run, gates, planner) === 'continue-as-new') {
      await condition(allHandlersFinished);
      return await continueAsNew<typeof AgentRun>({ ...input, carry: toCarry(s) });
    }
    endAs(s, 'completed');
    return await finish(run, gates);
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    // Cancelled, and the call it interrupted failed instead of reporting the cancellation (a step
    // whose Job could not be deleted while the apiserver was away): still a cancellation, closed
    // as one. Histories recorded before this ended such runs failed, unclosed.
    if (isCancellation(err) || (CancellationScope.current().consideredCancelled && patched(CANCEL_WINS))) {
      endAs(s, 'cancelled');
      s.state.error = { code: 'cancelled', message: 'cancelled by an operator' };
      await CancellationScope.nonCancellable(() => finish(run, gates));
      throw isCancellation(err) ? err : new CancelledFailure('cancelled by an operator', undefined, err as Error);
    }
    const { status, code, message } = endingOf(err);
    endAs(s, status);
    s.state.error = { code, message };
    log.warn('run ended', { runId: input.runId, status, code, message });
    const result = await finish(run, gates);
    // A run cancelled by its own rules (rejected, timed out waiting) completes with that outcome;
    // a failed run fails the workflow, so the Web UI shows it as Failed with its reason.
    if (status === 'cancelled') return result;
    throw ApplicationFailure.nonRetryable(message, code);
  }
}
