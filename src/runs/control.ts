/**
 * Controlling a run of the caller: Temporal cancellation, or a signal (approve, pause,
 * resume, message). The action is recorded with its actor first (./audit.ts); the signal
 * carries the actor into the workflow.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { recordControl } from './audit.ts';
import type { Actor } from './audit.ts';
import { ExtraCreditsNotApplicable, NotAwaitingApproval, RunClosed, RunNotStarted, Unavailable } from './errors.ts';
import type { ControlAction, RunsDeps } from './model.ts';
import { ownedRun } from './ownership.ts';
import { closedStatus, isUnavailable } from './workflow.ts';
import { TERMINAL_STATUSES } from '../shared/run.ts';
import type { RunState, RunStatus } from '../shared/run.ts';
import { approveSignal, messageSignal, pauseSignal, resumeSignal, searchAttributes, statusQuery } from '../workflows/definitions.ts';
import type { ApproveSignal } from '../workflows/definitions.ts';

/**
 * Sends `action` to run `id` of the actor. A run that has ended is RunClosed, a seed-flow
 * run not started yet RunNotStarted, an approval to a run not waiting for one
 * NotAwaitingApproval, extra credits for a wait that is not for budget ExtraCreditsNotApplicable.
 */
export async function controlRun(deps: RunsDeps, actor: Actor, id: string, action: ControlAction, payload?: ApproveSignal | { text: string }): Promise<{ id: string; status: RunStatus }> {
  const userId = actor.id;
  const run = await ownedRun(deps, userId, id);
  if (!run.description) throw new RunNotStarted(id, run.record?.status);
  const closed = closedStatus(run.description.status.name);
  if (closed) throw new RunClosed(id, closed, 'control');
  const handle = deps.temporal.workflow.getHandle(id);
  // The workflow's own view: a run that reached its terminal status is closed even while it finishes up.
  const current: RunState | undefined = await handle.query(statusQuery).catch(() => undefined);
  if (current && TERMINAL_STATUSES.has(current.status)) throw new RunClosed(id, current.status, 'control');
  if (action === 'approve' && current && current.status !== 'awaiting_approval') throw new NotAwaitingApproval(id, current.status);
  const approval = action === 'approve' ? payload as ApproveSignal : undefined;
  const waitingFor = current?.waitingFor?.kind;
  if (approval?.extraCredits && waitingFor && waitingFor !== 'budget') throw new ExtraCreditsNotApplicable(id, waitingFor);
  const text = action === 'message' ? (payload as { text: string }).text : undefined;
  await recordControl(deps, id, userId, actor, approval?.approved === false ? 'reject' : action, {
    ...(approval ? { comment: approval.comment, extraCredits: approval.extraCredits, waitingFor: current?.waitingFor } : {}),
    ...(text === undefined ? {} : { text: text.slice(0, 500) }),
    status: current?.status,
  });
  const by = { actor: actor.id };
  try {
    if (action === 'cancel') await handle.cancel();
    else if (action === 'approve') await handle.signal(approveSignal, { ...approval!, ...by });
    else if (action === 'pause') await handle.signal(pauseSignal, by);
    else if (action === 'resume') await handle.signal(resumeSignal, by);
    else await handle.signal(messageSignal, { text: text!, ...by });
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new RunClosed(id, undefined, 'control');
    if (isUnavailable(err)) throw new Unavailable('Temporal', err);
    throw err;
  }
  const status = current?.status ?? ((run.description.typedSearchAttributes.get(searchAttributes.agentStatus) as RunStatus | undefined) ?? 'queued');
  return { id, status };
}
