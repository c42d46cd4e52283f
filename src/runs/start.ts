/**
 * Starting runs: a new run, the seeds' two-step create-then-start, and the retry of an
 * ended run. The record comes first (admission enforces the active-run limit), then the
 * workflow; workflow id = run id, so a duplicate start can never create a second run.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { recordControl } from './audit.ts';
import type { Actor } from './audit.ts';
import { AtRunLimit, NotForkable, RunClosed, RunNotFound, RunNotRetryable, RunsError, StartOutcomeUnknown, Unavailable } from './errors.ts';
import { checkReusableWorkspace, claimReusedWorkspace, putLargePrompt } from './files.ts';
import { newRunId } from './ids.ts';
import { DEFAULT_PRIORITY, INLINE_PROMPT_MAX_BYTES } from './model.ts';
import type { ForkStart, RunsDeps, StartOptions, StartRequest } from './model.ts';
import { ownedRun, runRecord } from './ownership.ts';
import { getRun } from './read.ts';
import { isUnavailable, startAgentRun, workflowExists } from './workflow.ts';
import { s3Keys } from '../shared/names.ts';
import { TERMINAL_STATUSES } from '../shared/run.ts';
import type { RunInput, RunStatus } from '../shared/run.ts';

/** Key of the `queued` status event the API puts on a run's log when it admits the run (once, however often the start is retried). */
export const QUEUED_EVENT_KEY = 'api:queued';

/**
 * Starts a new run of `userId` (or, with `opts.id`, its existing `created` record):
 * AtRunLimit when the user already has `maxActiveRuns` going. Starting a run that already
 * started answers with `queued` again (workflow id = run id: never a second run).
 */
export async function startRun(deps: RunsDeps, userId: string, req: StartRequest, opts: StartOptions = {}): Promise<{ id: string; status: RunStatus }> {
  return launch(deps, userId, opts.id ?? newRunId(), req, opts);
}

/** The seeds' two-step flow, step one: records a run as `created` without starting it (`startCreated` starts it). */
export async function createRun(deps: RunsDeps, userId: string, req: Pick<StartRequest, 'prompt' | 'priority'>): Promise<{ id: string; status: RunStatus }> {
  const id = newRunId();
  try {
    await deps.store.createRun({ id, userId, prompt: req.prompt, priority: req.priority ?? DEFAULT_PRIORITY, status: 'created' });
  } catch (err) {
    throw new Unavailable('the database', err);
  }
  return { id, status: 'created' };
}

/** Starts a `created` run of the caller; a run already started answers with its status. */
export async function startCreated(deps: RunsDeps, userId: string, id: string): Promise<{ id: string; status: RunStatus; started: boolean }> {
  const run = await ownedRun(deps, userId, id);
  if (run.description || run.record?.status !== 'created') return { id, status: (await getRun(deps, userId, id)).status, started: false };
  const { status } = await startRun(deps, userId, { prompt: run.record.prompt, priority: run.record.priority || DEFAULT_PRIORITY }, { id });
  return { id, status, started: true };
}

/** A new run with a failed or cancelled run's prompt and priority, in the same workspace; the retry is audited on the old run. */
export async function retryRun(deps: RunsDeps, actor: Actor, id: string): Promise<{ id: string; status: RunStatus; retryOf: string }> {
  const userId = actor.id;
  const run = await ownedRun(deps, userId, id);
  const view = await getRun(deps, userId, id);
  if (view.status !== 'failed' && view.status !== 'cancelled') throw new RunNotRetryable(id, view.status, 'run');
  const record = run.record ?? await runRecord(deps, id);
  if (!record) throw new Unavailable('the database');
  const newId = newRunId();
  await recordControl(deps, id, userId, actor, 'retry', { runId: newId });
  const started = await launch(deps, userId, newId, { prompt: record.prompt, priority: record.priority || DEFAULT_PRIORITY, workspaceId: id }, { retryOf: id });
  return { ...started, retryOf: id };
}

export async function launch(deps: RunsDeps, userId: string, id: string, req: StartRequest, opts: StartOptions, fork?: ForkStart): Promise<{ id: string; status: RunStatus }> {
  const { prompt } = req;
  const priority = req.priority ?? DEFAULT_PRIORITY;
  // A workspace that is not the caller's is refused before anything is recorded.
  if (req.workspaceId) await checkReusableWorkspace(deps, userId, req.workspaceId);
  // The record first: a run that exists in Temporal always has one. Admission enforces the active-run limit.
  let admitted;
  try {
    admitted = await deps.store.admitRun({ id, userId, prompt, priority }, deps.maxActiveRuns);
  } catch (err) {
    throw new Unavailable('the database', err);
  }
  if (!admitted.ok) {
    if (admitted.reason === 'not_found') throw new RunNotFound(id);
    throw new AtRunLimit(admitted.message, admitted.active, deps.maxActiveRuns, deps.runLimitRetryAfterS);
  }
  if (!admitted.created && TERMINAL_STATUSES.has(admitted.status)) {
    // An idempotent retry of a start that got this far before: its run has ended since (or was never started, see repair.ts).
    if (opts.resumeClaim) return { id, status: admitted.status };
    throw new RunClosed(id, admitted.status, 'start');
  }
  let input: RunInput;
  try {
    input = {
      runId: id, userId, prompt, creditReservation: req.budget ?? deps.creditReservation, provider: deps.provider,
      requireApproval: req.requireApproval ?? false, priority, limits: deps.limits, promptBytes: Buffer.byteLength(prompt),
      workspaceId: req.workspaceId ? await claimReusedWorkspace(deps, userId, id, req.workspaceId) : id,
    };
    // A fork starts in a workspace of its own holding the files as they were after its step.
    if (fork) {
      const base = await deps.workspace.copyManifest(userId, fork.files, id).catch((err: unknown) => {
        throw new NotForkable(fork.forkOf.runId, 'workspace_version_gone', `the workspace of run ${fork.forkOf.runId} after step ${fork.forkOf.step} is no longer kept (old file versions expire): ${(err as Error).message}`, err);
      });
      // What the fork's steps' changes add to, when the fork is forked in turn.
      await deps.workspace.putJson(s3Keys.workspaceBase(userId, id), base);
      Object.assign(input, { plan: fork.plan, forkOf: fork.forkOf });
    }
    // Large prompts live in the run's workspace; history carries a reference and a preview.
    if (Buffer.byteLength(prompt) > INLINE_PROMPT_MAX_BYTES) {
      input.promptRef = await putLargePrompt(deps, userId, id, prompt);
      input.prompt = prompt.slice(0, 500);
    }
  } catch (err) {
    await notStarted(deps, id, err);
    throw err;
  }
  // Listed on the queue facade, and `queued` on its log so a client following it hears at once, before the workflow exists.
  await Promise.all([
    deps.queue?.track(id, 'queued', { priority, retryCount: opts.retryCount, retryOf: opts.retryOf })
      .catch((err: unknown) => deps.log.warn({ err, id }, 'could not list the run on the queue facade; its first transition will')),
    deps.events?.append(id, [{ key: QUEUED_EVENT_KEY, type: 'status', data: { status: 'queued', priority } }])
      .catch((err: unknown) => deps.log.warn({ err, id }, 'could not announce the queued run on its log; its first transition will')),
  ]);
  try {
    await startAgentRun(deps.temporal, deps.taskQueue, input);
  } catch (err) {
    // Workflow id = run id, and the id is ours: an earlier attempt (a recovered ingress entry, an idempotent retry) started it.
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { id, status: 'queued' };
    // The start may have reached the server before failing here: only a run known not to exist is marked failed.
    const exists = await workflowExists(deps.temporal, id);
    if (exists === true) return { id, status: 'queued' };
    if (exists === undefined) {
      deps.log.warn({ err, id }, 'start outcome unknown; the run stays queued until it is seen started or repaired');
      throw new StartOutcomeUnknown(id, err);
    }
    await notStarted(deps, id, err);
    if (isUnavailable(err)) throw new Unavailable('Temporal', err);
    throw err;
  }
  return { id, status: 'queued' };
}

/** The run never started: its record must not hold a place under the active-run limit. */
async function notStarted(deps: RunsDeps, id: string, err: unknown): Promise<void> {
  const error = err instanceof RunsError ? { code: err.code, message: err.message } : { code: 'start_failed', message: (err as Error).message };
  await deps.store.updateRun(id, 'failed', { error })
    .catch((e: unknown) => deps.log.error({ err: e, id }, 'could not mark an unstarted run failed'));
  await deps.queue?.track(id, 'failed', { reason: error })
    .catch((e: unknown) => deps.log.error({ err: e, id }, 'could not dead-letter an unstarted run'));
}
