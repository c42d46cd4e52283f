/**
 * The offline provider's supervisor, deterministic and zod-free: the workflow calls it
 * directly (a module the workflow imports is initialised again for every execution, so
 * it stays clear of zod; the decision's schema is ./supervisor.ts).
 */
import type { StepResult } from './run.ts';
import type { SupervisorDecision } from './supervisor.ts';

/** Offline supervisor: continue after a success, finish after the last step, fail the run on a failed step. */
export function offlineDecision(result: StepResult, isLast: boolean): SupervisorDecision {
  if (!result.ok) return { action: 'finish', outcome: 'failed', reason: result.summary };
  return isLast ? { action: 'finish', outcome: 'completed', reason: 'all steps done' } : { action: 'continue', reason: 'step succeeded' };
}
