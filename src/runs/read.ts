/** Reading runs: one run as its workflow reports it, and the caller's runs from their records. */
import { Unavailable } from './errors.ts';
import type { RunsDeps, RunSummary, RunView } from './model.ts';
import { ownedRun } from './ownership.ts';
import { closedStatus } from './workflow.ts';
import { TERMINAL_STATUSES } from '../shared/run.ts';
import type { RunState, RunStatus } from '../shared/run.ts';
import type { RunRecord } from '../store/types.ts';
import { searchAttributes, statusQuery } from '../workflows/definitions.ts';

const iso = (t: string | Date | null | undefined) => (t === null || t === undefined ? undefined : new Date(t).toISOString());

/** The run `id` of `userId`: the workflow's own status (a query), or what the server and the record know when no worker answers. */
export async function getRun(deps: RunsDeps, userId: string, id: string): Promise<RunView> {
  const run = await ownedRun(deps, userId, id);
  const d = run.description;
  // The record adds usage; without the database the run is still reported from Temporal.
  const record = run.record ?? await deps.store.getRun(id).catch((err: unknown) => {
    deps.log.warn({ err: (err as Error).message, id }, 'run record unavailable');
    return undefined;
  });
  const usage = { credits: Number(record?.credits_charged ?? 0) };
  if (!d) {
    return { id, userId, status: record!.status, steps: [], usage, createdAt: iso(record!.created_at) };
  }
  const base = { id, userId, createdAt: d.startTime.toISOString(), closedAt: d.closeTime?.toISOString() };
  try {
    const s = await deps.temporal.workflow.getHandle(id).query(statusQuery);
    // The run ended while it was being asked (a query waits for its workflow task): the record
    // read before it may predate the ending, whose credits the caller would then not see.
    const ended = TERMINAL_STATUSES.has(s.status) && record && !TERMINAL_STATUSES.has(record.status)
      ? await deps.store.getRun(id).catch(() => record) : record;
    return { ...base, status: s.status, plan: s.plan, steps: s.steps, currentStep: s.currentStep, error: s.error, usage: { credits: Number(ended?.credits_charged ?? 0) } };
  } catch (err) {
    // No worker to answer (or the run never got one): report what the server and the record know.
    deps.log.debug({ err, id }, 'status query failed; falling back to describe');
    const status = closedStatus(d.status.name) ?? record?.status
      ?? (d.typedSearchAttributes.get(searchAttributes.agentStatus) as RunStatus | undefined) ?? 'queued';
    return { ...base, status, steps: [], plan: (record?.plan ?? undefined) as RunState['plan'], error: (record?.error ?? undefined) as RunState['error'], usage };
  }
}

/** The user's runs, newest first, from the run records. */
export async function listRuns(deps: RunsDeps, userId: string, q: { statuses?: RunStatus[]; before?: string; limit: number }): Promise<{ runs: RunSummary[]; more: boolean }> {
  let rows: RunRecord[];
  try {
    rows = await deps.store.listRuns(userId, { statuses: q.statuses, before: q.before, limit: q.limit + 1 });
  } catch (err) {
    throw new Unavailable('the database', err);
  }
  const runs = rows.slice(0, q.limit).map((r): RunSummary => ({
    id: r.id, status: r.status, priority: r.priority, promptPreview: r.prompt.slice(0, 200),
    ...(r.error ? { error: r.error } : {}),
    usage: { credits: Number(r.credits_charged) },
    createdAt: iso(r.created_at)!, updatedAt: iso(r.updated_at)!, startedAt: iso(r.started_at), finishedAt: iso(r.finished_at),
  }));
  return { runs, more: rows.length > q.limit };
}
