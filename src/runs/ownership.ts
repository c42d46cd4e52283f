/**
 * Who owns a run. Every operation naming a run goes through `owned`: a run of another user
 * is RunNotFound, as one that does not exist, so ids of other users' runs cannot be probed.
 */
import type { WorkflowExecutionDescription } from '@temporalio/client';
import { RunNotFound, Unavailable } from './errors.ts';
import type { OwnedRun, RunsDeps } from './model.ts';
import { describeRun } from './workflow.ts';
import { isRunId } from '../shared/names.ts';
import { TERMINAL_STATUSES } from '../shared/run.ts';
import type { RunRecord } from '../store/types.ts';
import { searchAttributes } from '../workflows/definitions.ts';

/** The run's database record; Unavailable when the database does not answer. */
export async function runRecord(deps: Pick<RunsDeps, 'store'>, id: string): Promise<RunRecord | undefined> {
  try {
    return await deps.store.getRun(id);
  } catch (err) {
    throw new Unavailable('the database', err);
  }
}

/**
 * The run `id` if `userId` owns it, else RunNotFound. Ownership comes from the workflow's
 * UserId search attribute (set at start), or for a `created` run from its record.
 */
export async function ownedRun(deps: Pick<RunsDeps, 'store' | 'temporal'>, userId: string, id: string): Promise<OwnedRun> {
  let description: WorkflowExecutionDescription | undefined;
  try {
    description = await describeRun(deps.temporal, id);
  } catch (err) {
    if (!(err instanceof RunNotFound) || !isRunId(id)) throw err;
  }
  if (description) {
    if (description.typedSearchAttributes.get(searchAttributes.userId) !== userId) throw new RunNotFound(id);
    return { id, userId, description };
  }
  const record = await runRecord(deps, id);
  if (record?.user_id !== userId) throw new RunNotFound(id);
  return { id, userId, record };
}

/**
 * The owner check of a run's event stream, which every client opens at a run's start: a live
 * run's record answers it (one database read instead of a describe of its workflow, which
 * is the run's one Temporal call beyond what the bare workflow makes). A run whose record
 * says it has not started or has ended, that has no record, or whose record cannot be read
 * now, is checked as ownedRun checks it.
 */
export async function streamOwner(deps: Pick<RunsDeps, 'store' | 'temporal'>, userId: string, id: string): Promise<OwnedRun> {
  // A database that does not answer leaves the check to Temporal, as before (streams need Redis, not Postgres).
  const record = isRunId(id) ? await runRecord(deps, id).catch(() => undefined) : undefined;
  if (record && record.status !== 'created' && !TERMINAL_STATUSES.has(record.status)) {
    if (record.user_id !== userId) throw new RunNotFound(id);
    return { id, userId, record, live: true };
  }
  return ownedRun(deps, userId, id);
}
