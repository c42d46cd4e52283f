/**
 * Run operations the HTTP routes call: start an AgentRun, read its state.
 * Workflow id = run id, so a duplicate start can never create a second run.
 */
import type { Readable } from 'node:stream';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { ListObjectsV2CommandOutput, S3Client } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import { recordControl } from './audit.ts';
import type { Actor } from './audit.ts';
import { conflict, HttpError, notFound, StartOutcomeUnknownError, TooManyRequestsError, UnavailableError } from './errors.ts';
import { newRunId } from './ids.ts';
import { readArchive } from '../infra/event-archive.ts';
import type { EventLog, StoredEvent } from '../infra/event-log.ts';
import type { QueueFacade } from '../infra/queue.ts';
import { isNotFound } from '../infra/s3.ts';
import { contentTypeFor } from '../shared/content-type.ts';
import { isRunId, s3Keys, WORKFLOW_TYPE } from '../shared/names.ts';
import { TERMINAL_STATUSES } from '../shared/run.ts';
import type { RunInput, RunLimits, RunState, RunStatus } from '../shared/run.ts';
import { checkWorkspacePath, InvalidPathError } from '../shared/workspace-path.ts';
import type { RunRecord, Store } from '../store/types.ts';
import { assertWorkspaceOwner, claimWorkspace, workspaceOf, WorkspaceUnavailableError } from '../workspace/claim.ts';
import { approveSignal, messageSignal, pauseSignal, resumeSignal, searchAttributes, statusQuery } from '../workflows/definitions.ts';
import type { ApproveSignal } from '../workflows/definitions.ts';

export interface RunsServiceDeps {
  temporal: Client;
  store: Store;
  s3: S3Client;
  bucket: string;
  taskQueue: string;
  creditReservation: number;
  provider: RunInput['provider'];
  limits: RunLimits;
  /** Runs one user may have going at once. */
  maxActiveRuns: number;
  log: Logger;
  /** The run event logs: control actions without a workflow event (cancel, message) are put there with their actor. */
  events?: EventLog;
  /** The jobs:* facade; a run is listed as queued before Temporal sees it (so no later transition can be overtaken). */
  queue?: QueueFacade;
}

/** How a run is started besides the HTTP request: the legacy ingress starts an existing `created` record. */
export interface StartOptions {
  /** The run id: an existing record (status `created`) to start, or the id an Idempotency-Key claim chose; a new id without it. */
  id?: string;
  retryCount?: number;
  retryOf?: string;
  /** An idempotent retry of an earlier attempt with this id (src/api/idempotency.ts): a run that has ended since is answered, not refused. */
  resumeClaim?: boolean;
}

/** Prompts above this size go to the workspace instead of workflow history. */
export const INLINE_PROMPT_MAX_BYTES = 8192;
export const DEFAULT_PRIORITY = 3;
/** How long a workflow start may take before its outcome is checked (and, if Temporal cannot say, reported unknown). */
export const START_DEADLINE_MS = 10_000;

export interface StartRequest {
  prompt: string;
  requireApproval?: boolean;
  /** 1 (first) … 5 (last); default 3. */
  priority?: number;
  /** Credits to reserve instead of the default. */
  budget?: number;
  /** An earlier run of the same user whose workspace files this run works in. */
  workspaceId?: string;
}

export interface RunView {
  id: string;
  userId: string;
  status: RunStatus;
  plan?: RunState['plan'];
  steps: RunState['steps'];
  currentStep?: number;
  error?: RunState['error'];
  usage: { credits: number };
  createdAt?: string;
  closedAt?: string;
}

/** A run as the list shows it: from the run record, no workflow query. */
export interface RunSummary {
  id: string;
  status: RunStatus;
  priority: number;
  promptPreview: string;
  error?: unknown;
  usage: { credits: number };
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface WorkspaceFile { path: string; size: number; lastModified?: string; etag?: string; contentType: string }

/** A run the caller owns: its workflow (absent for a `created` run not started yet) and/or its record. */
export interface OwnedRun {
  id: string;
  userId: string;
  description?: WorkflowExecutionDescription;
  record?: RunRecord;
}

export type ControlAction = 'cancel' | 'approve' | 'pause' | 'resume' | 'message';

const iso = (t: string | Date | null | undefined) => (t === null || t === undefined ? undefined : new Date(t).toISOString());

const CLOSED_STATUS: Record<string, RunStatus | undefined> = {
  COMPLETED: 'completed', FAILED: 'failed', CANCELLED: 'cancelled', TERMINATED: 'failed', TIMED_OUT: 'failed',
};

function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: number }).code;
  return code === 14 || code === 4; // UNAVAILABLE, DEADLINE_EXCEEDED
}

/** How long one answer of isClosed serves every SSE client of the run. */
const CLOSED_CHECK_REUSE_MS = 1000;

export class RunsService {
  private readonly deps: RunsServiceDeps;
  private readonly closedChecks = new Map<string, { at: number; answer: Promise<{ closed: boolean; status?: RunStatus }> }>();
  constructor(deps: RunsServiceDeps) {
    this.deps = deps;
  }

  /**
   * Starts a new run of `userId` (or, with `opts.id`, its existing `created` record):
   * 429 when the user already has `maxActiveRuns` going. Starting a run that already
   * started answers with `queued` again (workflow id = run id: never a second run).
   */
  async start(userId: string, req: StartRequest, opts: StartOptions = {}): Promise<{ id: string; status: RunStatus }> {
    return this.launch(userId, opts.id ?? newRunId(), req, opts);
  }

  /**
   * The seeds' two-step flow, step one: records a run as `created` without starting it.
   * `startCreated` starts it.
   */
  async create(userId: string, req: Pick<StartRequest, 'prompt' | 'priority'>): Promise<{ id: string; status: RunStatus }> {
    const id = newRunId();
    try {
      await this.deps.store.createRun({ id, userId, prompt: req.prompt, priority: req.priority ?? DEFAULT_PRIORITY, status: 'created' });
    } catch (err) {
      throw new UnavailableError('the database', err);
    }
    return { id, status: 'created' };
  }

  /** Starts a `created` run of the caller; a run already started answers with its status. */
  async startCreated(userId: string, id: string): Promise<{ id: string; status: RunStatus; started: boolean }> {
    const run = await this.owned(userId, id);
    if (run.description || run.record?.status !== 'created') return { id, status: (await this.get(userId, id)).status, started: false };
    const { status } = await this.start(userId, { prompt: run.record.prompt, priority: run.record.priority || DEFAULT_PRIORITY }, { id });
    return { id, status, started: true };
  }

  /** A new run with a failed or cancelled run's prompt and priority, in the same workspace; the retry is audited on the old run. */
  async retry(actor: Actor, id: string): Promise<{ id: string; status: RunStatus; retryOf: string }> {
    const userId = actor.id;
    const run = await this.owned(userId, id);
    const view = await this.get(userId, id);
    if (view.status !== 'failed' && view.status !== 'cancelled') {
      throw conflict('run_not_retryable', `run ${id} is ${view.status}; only failed or cancelled runs can be retried`, { status: view.status });
    }
    const record = run.record ?? await this.record(id);
    if (!record) throw new UnavailableError('the database');
    const newId = newRunId();
    await recordControl(this.deps, id, userId, actor, 'retry', { runId: newId });
    const started = await this.launch(userId, newId, { prompt: record.prompt, priority: record.priority || DEFAULT_PRIORITY, workspaceId: id }, { retryOf: id });
    return { ...started, retryOf: id };
  }

  private async launch(userId: string, id: string, req: StartRequest, opts: StartOptions): Promise<{ id: string; status: RunStatus }> {
    const { prompt } = req;
    const priority = req.priority ?? DEFAULT_PRIORITY;
    // A workspace that is not the caller's is refused before anything is recorded.
    if (req.workspaceId) await this.workspaceCall(() => assertWorkspaceOwner(this.workspaceDeps(), userId, req.workspaceId!));
    // The record first: a run that exists in Temporal always has one. Admission enforces the active-run limit.
    let admitted;
    try {
      admitted = await this.deps.store.admitRun({ id, userId, prompt, priority }, this.deps.maxActiveRuns);
    } catch (err) {
      throw new UnavailableError('the database', err);
    }
    if (!admitted.ok) {
      if (admitted.reason === 'not_found') throw notFound(`run ${id}`);
      throw new TooManyRequestsError('too_many_active_runs', `${admitted.message}: wait for one to end, or cancel one`, 10, { active: admitted.active, limit: this.deps.maxActiveRuns });
    }
    if (!admitted.created && TERMINAL_STATUSES.has(admitted.status)) {
      // An idempotent retry of a start that got this far before: its run has ended since (or was never started, see run-repair.ts).
      if (opts.resumeClaim) return { id, status: admitted.status };
      throw conflict('run_closed', `run ${id} has ended (${admitted.status}); start a new one`, { status: admitted.status });
    }
    let input: RunInput;
    try {
      input = {
        runId: id, userId, prompt, creditReservation: req.budget ?? this.deps.creditReservation, provider: this.deps.provider,
        requireApproval: req.requireApproval ?? false, priority, limits: this.deps.limits, promptBytes: Buffer.byteLength(prompt),
        workspaceId: req.workspaceId ? await this.workspaceCall(() => claimWorkspace(this.workspaceDeps(), userId, id, req.workspaceId!)) : id,
      };
      // Large prompts live in the run's workspace; history carries a reference and a preview.
      if (Buffer.byteLength(prompt) > INLINE_PROMPT_MAX_BYTES) {
        const key = `${s3Keys.runPrefix(userId, id)}.agentrun/prompt.txt`;
        try {
          await this.deps.s3.send(new PutObjectCommand({ Bucket: this.deps.bucket, Key: key, Body: prompt, ContentType: 'text/plain; charset=utf-8' }));
        } catch (err) {
          throw new UnavailableError('the workspace store (S3)', err);
        }
        input.prompt = prompt.slice(0, 500);
        input.promptRef = key;
      }
    } catch (err) {
      await this.notStarted(id, err);
      throw err;
    }
    await this.deps.queue?.track(id, 'queued', { priority, retryCount: opts.retryCount, retryOf: opts.retryOf })
      .catch((err: unknown) => this.deps.log.warn({ err, id }, 'could not list the run on the queue facade; its first transition will'));
    try {
      // A deadline, so a Temporal that stopped answering is an error the request can report, not a hang.
      await this.deps.temporal.connection.withDeadline(Date.now() + START_DEADLINE_MS, () => this.deps.temporal.workflow.start(WORKFLOW_TYPE, {
        workflowId: id,
        taskQueue: this.deps.taskQueue,
        args: [input],
        typedSearchAttributes: [
          { key: searchAttributes.agentStatus, value: 'queued' },
          { key: searchAttributes.userId, value: userId },
          { key: searchAttributes.priority, value: priority },
        ],
        // Priority orders tasks; the user as fairness key keeps one user's flood from starving others.
        priority: { priorityKey: priority, fairnessKey: userId },
      }));
    } catch (err) {
      // Workflow id = run id, and the id is ours: an earlier attempt (a recovered ingress entry, an idempotent retry) started it.
      if (err instanceof WorkflowExecutionAlreadyStartedError) return { id, status: 'queued' };
      // The start may have reached the server before failing here: only a run known not to exist is marked failed.
      const exists = await this.workflowExists(id);
      if (exists === true) return { id, status: 'queued' };
      if (exists === undefined) {
        this.deps.log.warn({ err, id }, 'start outcome unknown; the run stays queued until it is seen started or repaired');
        throw new StartOutcomeUnknownError(id, err);
      }
      await this.notStarted(id, err);
      if (isUnavailable(err)) throw new UnavailableError('Temporal', err);
      throw err;
    }
    return { id, status: 'queued' };
  }

  /** The run never started: its record must not hold a place under the active-run limit. */
  private async notStarted(id: string, err: unknown): Promise<void> {
    const error = err instanceof HttpError ? { code: err.code, message: err.message } : { code: 'start_failed', message: (err as Error).message };
    await this.deps.store.updateRun(id, 'failed', { error })
      .catch((e: unknown) => this.deps.log.error({ err: e, id }, 'could not mark an unstarted run failed'));
    await this.deps.queue?.track(id, 'failed', { reason: error })
      .catch((e: unknown) => this.deps.log.error({ err: e, id }, 'could not dead-letter an unstarted run'));
  }

  /** Does the run's workflow exist? undefined when Temporal cannot say. */
  private async workflowExists(id: string): Promise<boolean | undefined> {
    try {
      await this.deps.temporal.connection.withDeadline(Date.now() + START_DEADLINE_MS / 2, () => this.deps.temporal.workflow.getHandle(id).describe());
      return true;
    } catch (err) {
      return err instanceof WorkflowNotFoundError ? false : undefined;
    }
  }

  private workspaceDeps() {
    return { s3: this.deps.s3, bucket: this.deps.bucket, store: this.deps.store };
  }

  /** A workspace operation: 404 when there is no such run of the user's, 410 when it was deleted. */
  private async workspaceCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof WorkspaceUnavailableError) {
        throw err.kind === 'deleted'
          ? new HttpError(410, 'workspace_deleted', err.message)
          : new HttpError(404, 'workspace_not_found', err.message);
      }
      throw new UnavailableError('the database or the workspace store (S3)', err);
    }
  }

  private async record(id: string): Promise<RunRecord | undefined> {
    try {
      return await this.deps.store.getRun(id);
    } catch (err) {
      throw new UnavailableError('the database', err);
    }
  }

  /** Describes the run's workflow; 404 when there is none. */
  async describe(id: string): Promise<WorkflowExecutionDescription> {
    if (!isRunId(id)) throw notFound(`run ${id}`);
    try {
      const d = await this.deps.temporal.workflow.getHandle(id).describe();
      if (d.type !== WORKFLOW_TYPE) throw notFound(`run ${id}`);
      return d;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound(`run ${id}`);
      if (isUnavailable(err)) throw new UnavailableError('Temporal', err);
      throw err;
    }
  }

  /**
   * The run `id` if `userId` owns it, else 404 — the same answer as for a run that does not
   * exist, so ids of other users' runs cannot be probed. Ownership comes from the workflow's
   * UserId search attribute (set at start), or for a `created` run from its record.
   */
  async owned(userId: string, id: string): Promise<OwnedRun> {
    let description: WorkflowExecutionDescription | undefined;
    try {
      description = await this.describe(id);
    } catch (err) {
      if (!(err instanceof HttpError && err.status === 404) || !isRunId(id)) throw err;
    }
    if (description) {
      if (description.typedSearchAttributes.get(searchAttributes.userId) !== userId) throw notFound(`run ${id}`);
      return { id, userId, description };
    }
    const record = await this.record(id);
    if (record?.user_id !== userId) throw notFound(`run ${id}`);
    return { id, userId, record };
  }

  async get(userId: string, id: string): Promise<RunView> {
    const run = await this.owned(userId, id);
    const d = run.description;
    // The record adds usage; without the database the run is still reported from Temporal.
    const record = run.record ?? await this.deps.store.getRun(id).catch((err: unknown) => {
      this.deps.log.warn({ err: (err as Error).message, id }, 'run record unavailable');
      return undefined;
    });
    const usage = { credits: Number(record?.credits_charged ?? 0) };
    if (!d) {
      return { id, userId, status: record!.status, steps: [], usage, createdAt: iso(record!.created_at) };
    }
    const base = { id, userId, createdAt: d.startTime.toISOString(), closedAt: d.closeTime?.toISOString() };
    try {
      const s = await this.deps.temporal.workflow.getHandle(id).query(statusQuery);
      return { ...base, status: s.status, plan: s.plan, steps: s.steps, currentStep: s.currentStep, error: s.error, usage };
    } catch (err) {
      // No worker to answer (or the run never got one): report what the server and the record know.
      this.deps.log.debug({ err, id }, 'status query failed; falling back to describe');
      const status = CLOSED_STATUS[d.status.name] ?? record?.status
        ?? (d.typedSearchAttributes.get(searchAttributes.agentStatus) as RunStatus | undefined) ?? 'queued';
      return { ...base, status, steps: [], plan: (record?.plan ?? undefined) as RunState['plan'], error: (record?.error ?? undefined) as RunState['error'], usage };
    }
  }

  /** The user's runs, newest first, from the run records. */
  async list(userId: string, q: { statuses?: RunStatus[]; before?: string; limit: number }): Promise<{ runs: RunSummary[]; more: boolean }> {
    let rows: RunRecord[];
    try {
      rows = await this.deps.store.listRuns(userId, { statuses: q.statuses, before: q.before, limit: q.limit + 1 });
    } catch (err) {
      throw new UnavailableError('the database', err);
    }
    const runs = rows.slice(0, q.limit).map((r): RunSummary => ({
      id: r.id, status: r.status, priority: r.priority, promptPreview: r.prompt.slice(0, 200),
      ...(r.error ? { error: r.error } : {}),
      usage: { credits: Number(r.credits_charged) },
      createdAt: iso(r.created_at)!, updatedAt: iso(r.updated_at)!, startedAt: iso(r.started_at), finishedAt: iso(r.finished_at),
    }));
    return { runs, more: rows.length > q.limit };
  }

  /**
   * Sends a control to a run of the caller: Temporal cancellation, or a signal. A run that
   * has ended (or, for the seeds' flow, has not started) is a 409. The action is recorded
   * with its actor first (src/api/audit.ts); the signal carries the actor into the workflow.
   */
  async control(actor: Actor, id: string, action: ControlAction, payload?: ApproveSignal | { text: string }): Promise<{ id: string; status: RunStatus }> {
    const userId = actor.id;
    const run = await this.owned(userId, id);
    if (!run.description) throw conflict('run_not_started', `run ${id} has not been started (POST /agent/execute with action start)`, { status: run.record?.status });
    const closed = CLOSED_STATUS[run.description.status.name];
    if (closed) throw conflict('run_closed', `run ${id} has ended (${closed}); it cannot be controlled any more`, { status: closed });
    const handle = this.deps.temporal.workflow.getHandle(id);
    // The workflow's own view: a run that reached its terminal status is closed even while it finishes up.
    const current: RunState | undefined = await handle.query(statusQuery).catch(() => undefined);
    if (current && TERMINAL_STATUSES.has(current.status)) {
      throw conflict('run_closed', `run ${id} has ended (${current.status}); it cannot be controlled any more`, { status: current.status });
    }
    if (action === 'approve' && current && current.status !== 'awaiting_approval') {
      throw conflict('not_awaiting_approval', `run ${id} is ${current.status}, not awaiting approval`, { status: current.status });
    }
    const approval = action === 'approve' ? payload as ApproveSignal : undefined;
    const text = action === 'message' ? (payload as { text: string }).text : undefined;
    await recordControl(this.deps, id, userId, actor, approval?.approved === false ? 'reject' : action, {
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
      if (err instanceof WorkflowNotFoundError) throw conflict('run_closed', `run ${id} has ended; it cannot be controlled any more`);
      if (isUnavailable(err)) throw new UnavailableError('Temporal', err);
      throw err;
    }
    const status = current?.status ?? ((run.description.typedSearchAttributes.get(searchAttributes.agentStatus) as RunStatus | undefined) ?? 'queued');
    return { id, status };
  }

  /** The workspace a run of the caller works in (its own, or the earlier run's it reused). */
  private async workspace(userId: string, id: string): Promise<string> {
    await this.owned(userId, id);
    try {
      return await workspaceOf({ s3: this.deps.s3, bucket: this.deps.bucket, store: this.deps.store }, userId, id);
    } catch (err) {
      throw new UnavailableError('the workspace store (S3)', err);
    }
  }

  /** One page of the files in the run's workspace, in key order. */
  async listFiles(userId: string, id: string, q: { cursor?: string; limit: number }): Promise<{ workspaceId: string; files: WorkspaceFile[]; nextCursor?: string }> {
    const workspaceId = await this.workspace(userId, id);
    const prefix = s3Keys.workspaceFiles(userId, workspaceId);
    let res: ListObjectsV2CommandOutput;
    try {
      res = await this.deps.s3.send(new ListObjectsV2Command({ Bucket: this.deps.bucket, Prefix: prefix, ContinuationToken: q.cursor, MaxKeys: q.limit }));
    } catch (err) {
      if ((err as { name?: string }).name === 'InvalidArgument') throw new HttpError(400, 'invalid_request', 'cursor: is not a cursor of this listing');
      throw new UnavailableError('the workspace store (S3)', err);
    }
    const files = (res.Contents ?? []).filter((o) => o.Key).map((o): WorkspaceFile => {
      const path = o.Key!.slice(prefix.length);
      return { path, size: o.Size ?? 0, lastModified: o.LastModified?.toISOString(), etag: o.ETag, contentType: contentTypeFor(path) };
    });
    return { workspaceId, files, nextCursor: res.IsTruncated ? res.NextContinuationToken : undefined };
  }

  /** Opens a workspace file of the run for download; 400 for an unsafe path, 404 for a missing file. */
  async openFile(userId: string, id: string, rawPath: string): Promise<{ path: string; body: Readable; size?: number; contentType: string; etag?: string; lastModified?: Date }> {
    let path: string;
    try {
      path = checkWorkspacePath(rawPath);
    } catch (err) {
      if (err instanceof InvalidPathError) throw new HttpError(400, 'invalid_path', err.message);
      throw err;
    }
    const workspaceId = await this.workspace(userId, id);
    try {
      const res = await this.deps.s3.send(new GetObjectCommand({ Bucket: this.deps.bucket, Key: s3Keys.file(userId, workspaceId, path) }));
      return { path, body: res.Body as Readable, size: res.ContentLength, contentType: res.ContentType ?? contentTypeFor(path), etag: res.ETag, lastModified: res.LastModified };
    } catch (err) {
      if (isNotFound(err)) throw new HttpError(404, 'file_not_found', `file ${path} not found in the workspace of run ${id}`);
      throw new UnavailableError('the workspace store (S3)', err);
    }
  }

  /** The archived event log (S3) after an id of run `id` of `userId` (ownership already checked), or undefined when it has none (yet). */
  async archivedEvents(userId: string, id: string, afterId: string | undefined): Promise<StoredEvent[] | undefined> {
    return readArchive(this.deps.s3, this.deps.bucket, userId, id, afterId);
  }

  /**
   * Has the run's workflow closed (completed, failed, cancelled, terminated)? Asked by idle SSE clients on every heartbeat, so the answer
   * is shared: one describe per run per second however many clients follow it.
   */
  isClosed(id: string): Promise<{ closed: boolean; status?: RunStatus }> {
    const now = Date.now();
    const hit = this.closedChecks.get(id);
    if (hit && now - hit.at < CLOSED_CHECK_REUSE_MS) return hit.answer;
    const answer = this.describe(id).then((d) => {
      const status = CLOSED_STATUS[d.status.name];
      return { closed: status !== undefined, status };
    });
    answer.catch(() => this.closedChecks.delete(id));
    this.closedChecks.set(id, { at: now, answer });
    if (this.closedChecks.size > 10_000) {
      for (const [k, v] of this.closedChecks) if (now - v.at >= CLOSED_CHECK_REUSE_MS) this.closedChecks.delete(k);
    }
    return answer;
  }
}
