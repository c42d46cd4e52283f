/**
 * A run reset in Temporal (the Web UI's Reset, `temporal workflow reset`) goes on in a new
 * execution from an earlier point of its history. Its calls carry an `epoch` (that
 * execution's run id; src/workflows/proxies.ts withEpoch), and the first one reopens the
 * run before it acts, once per epoch (the database function run_reopen): a closed record
 * back to running, a closed reservation taken again as large as the run's first, and a
 * `reset` marker on the run's stream, after which the new execution's events follow.
 * Everything the new execution writes is keyed with its epoch, so the steps it runs again
 * run, are logged and are charged again — once.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { ActivityDeps } from './deps.ts';
import type { ReopenResult } from '../store/types.ts';

/** Epochs this process has seen reopened (a few calls of one execution need one database call). */
const REOPENED_MAX = 1000;
const reopened = new Set<string>();

/** The `reset` marker: one per epoch on the run's stream (its key makes a second append a no-op). */
async function mark(deps: ActivityDeps, runId: string, epoch: string, r: ReopenResult): Promise<void> {
  const data: Record<string, unknown> = { epoch };
  if (r.ok && r.reopened) Object.assign(data, { previous: r.previous, reserved: r.reserved });
  if (!r.ok) Object.assign(data, { refused: r.reason, message: r.message });
  await deps.events.append(runId, [{ key: `reset@${epoch}`, type: 'reset', data }]);
}

/** Reopens run `runId` for `epoch` unless done; a refusal (no credits for the new reservation) fails the call for good. */
export async function reopenFor(deps: ActivityDeps, runId: string, epoch: string): Promise<void> {
  const id = `${runId}@${epoch}`;
  if (reopened.has(id)) return;
  const r = await deps.store.reopenRun(runId, epoch);
  await mark(deps, runId, epoch, r);
  // The run's closing calls pass: the epoch is taken, so they find it reopened (without a reservation).
  if (!r.ok) throw ApplicationFailure.nonRetryable(r.message, r.reason);
  if (r.reopened) deps.log.warn({ runId, epoch, previous: r.previous, reserved: r.reserved }, 'run reset: reopened for its new execution');
  if (reopened.size >= REOPENED_MAX) reopened.clear();
  reopened.add(id);
}

type Activity = (input: never) => Promise<unknown>;

/** The activities, each reopening the run first when its input carries an epoch. */
export function reopening<A extends Record<string, Activity>>(deps: ActivityDeps, activities: A): A {
  const wrapped: Record<string, Activity> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (input: never) => {
      const { runId, epoch } = (input ?? {}) as { runId?: unknown; epoch?: unknown };
      if (typeof runId === 'string' && typeof epoch === 'string') await reopenFor(deps, runId, epoch);
      return fn(input);
    };
  }
  return wrapped as A;
}
