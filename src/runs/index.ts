/**
 * Runs, the domain service behind every face (HTTP, the legacy queue): start (./start.ts),
 * ownership (./ownership.ts), read (./read.ts), control (./control.ts), workspace files
 * (./files.ts), what event streams ask (./follow.ts), the audit trail of control actions
 * (./audit.ts) and the repair of records left queued (./repair.ts). Refusals are the
 * domain errors of ./errors.ts, never HTTP ones; src/api maps them to answers.
 */
import type { WorkflowExecutionDescription } from '@temporalio/client';
import type { Actor } from './audit.ts';
import { controlRun } from './control.ts';
import { listFiles, openFile } from './files.ts';
import type { OpenedFile } from './files.ts';
import { archivedEvents, ClosedCache } from './follow.ts';
import type { ClosedAnswer } from './follow.ts';
import type { ControlAction, OwnedRun, RunsDeps, RunSummary, RunView, StartOptions, StartRequest, WorkspaceFile } from './model.ts';
import { ownedRun, streamOwner } from './ownership.ts';
import { getRun, listRuns } from './read.ts';
import { createRun, retryRun, startCreated, startRun } from './start.ts';
import { forkRun } from './fork.ts';
import type { ForkRequest } from './fork.ts';
import { describeRun } from './workflow.ts';
import type { StoredEvent } from '../infra/event-log.ts';
import type { RunStatus } from '../shared/run.ts';
import type { ApproveSignal } from '../workflows/definitions.ts';

export type { Actor } from './audit.ts';
export type { ControlAction, OwnedRun, RunsDeps, RunSummary, RunView, StartOptions, StartRequest, WorkspaceFile } from './model.ts';

/** The run operations with their dependencies bound: one per process, shared by its faces. */
export class RunsService {
  private readonly deps: RunsDeps;
  private readonly closed: ClosedCache;
  constructor(deps: RunsDeps) {
    this.deps = deps;
    this.closed = new ClosedCache(deps.temporal);
  }

  start(userId: string, req: StartRequest, opts: StartOptions = {}): Promise<{ id: string; status: RunStatus }> {
    return startRun(this.deps, userId, req, opts);
  }

  create(userId: string, req: Pick<StartRequest, 'prompt' | 'priority'>): Promise<{ id: string; status: RunStatus }> {
    return createRun(this.deps, userId, req);
  }

  startCreated(userId: string, id: string): Promise<{ id: string; status: RunStatus; started: boolean }> {
    return startCreated(this.deps, userId, id);
  }

  retry(actor: Actor, id: string): Promise<{ id: string; status: RunStatus; retryOf: string }> {
    return retryRun(this.deps, actor, id);
  }

  fork(actor: Actor, id: string, req: ForkRequest): Promise<{ id: string; status: RunStatus; forkOf: { runId: string; step: number } }> {
    return forkRun(this.deps, actor, id, req);
  }

  describe(id: string): Promise<WorkflowExecutionDescription> {
    return describeRun(this.deps.temporal, id);
  }

  owned(userId: string, id: string): Promise<OwnedRun> {
    return ownedRun(this.deps, userId, id);
  }

  /** `owned` for an event stream: a live run's record answers it (see streamOwner). */
  streamOwned(userId: string, id: string): Promise<OwnedRun> {
    return streamOwner(this.deps, userId, id);
  }

  get(userId: string, id: string): Promise<RunView> {
    return getRun(this.deps, userId, id);
  }

  list(userId: string, q: { statuses?: RunStatus[]; before?: string; limit: number }): Promise<{ runs: RunSummary[]; more: boolean }> {
    return listRuns(this.deps, userId, q);
  }

  control(actor: Actor, id: string, action: ControlAction, payload?: ApproveSignal | { text: string }): Promise<{ id: string; status: RunStatus }> {
    return controlRun(this.deps, actor, id, action, payload);
  }

  listFiles(userId: string, id: string, q: { cursor?: string; limit: number }): Promise<{ workspaceId: string; files: WorkspaceFile[]; nextCursor?: string }> {
    return listFiles(this.deps, userId, id, q);
  }

  openFile(userId: string, id: string, rawPath: string): Promise<OpenedFile> {
    return openFile(this.deps, userId, id, rawPath);
  }

  archivedEvents(userId: string, id: string, afterId: string | undefined): Promise<StoredEvent[] | undefined> {
    return archivedEvents(this.deps, userId, id, afterId);
  }

  isClosed(id: string): Promise<ClosedAnswer> {
    return this.closed.isClosed(id);
  }
}
