/**
 * The refusals of run operations. Each carries `code`, the stable machine-readable name
 * of the refusal (also put on the record of a run that never started, and answered by the
 * API as its error code), and the context as readonly fields. The HTTP face maps each
 * class to a status in one table (src/api/errors.ts); nothing here knows HTTP.
 */
import type { RunStatus } from '../shared/run.ts';

/** Every refusal of a run operation. */
export class RunsError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** No such run, or a run of another user (the same answer, so ids of others' runs cannot be probed). */
export class RunNotFound extends RunsError {
  readonly runId: string;
  constructor(runId: string) {
    super('not_found', `run ${runId} not found`);
    this.runId = runId;
  }
}

/** The run has ended: it cannot be started again (`for: 'start'`) or controlled (`for: 'control'`). */
export class RunClosed extends RunsError {
  readonly runId: string;
  /** Its end status, when known. */
  readonly status?: RunStatus;
  constructor(runId: string, status: RunStatus | undefined, refused: 'start' | 'control') {
    const ended = `run ${runId} has ended${status ? ` (${status})` : ''}`;
    super('run_closed', refused === 'start' ? `${ended}; start a new one` : `${ended}; it cannot be controlled any more`);
    this.runId = runId;
    this.status = status;
  }
}

/** A control sent to a seed-flow run that is recorded (`created`) but not started yet. */
export class RunNotStarted extends RunsError {
  readonly runId: string;
  readonly status?: RunStatus;
  constructor(runId: string, status: RunStatus | undefined) {
    super('run_not_started', `run ${runId} has not been started (POST /agent/execute with action start)`);
    this.runId = runId;
    this.status = status;
  }
}

/** An approval sent to a run that is not waiting for one. */
export class NotAwaitingApproval extends RunsError {
  readonly runId: string;
  readonly status: RunStatus;
  constructor(runId: string, status: RunStatus) {
    super('not_awaiting_approval', `run ${runId} is ${status}, not awaiting approval`);
    this.runId = runId;
    this.status = status;
  }
}

/**
 * Extra credits sent with an answer to a wait that is not for budget (a plan to approve, a
 * question): only a budget wait adds them to the run's reservation (src/workflows/gates.ts),
 * any other would take them and ignore them.
 */
export class ExtraCreditsNotApplicable extends RunsError {
  readonly runId: string;
  readonly waitingFor: string;
  constructor(runId: string, waitingFor: string) {
    super('extra_credits_not_applicable', `extraCredits apply when run ${runId} waits for budget; it waits for ${waitingFor === 'question' ? 'an answer to its question' : 'approval of its plan'} (answer without extraCredits)`);
    this.runId = runId;
    this.waitingFor = waitingFor;
  }
}

/**
 * A retry of a run that cannot be retried: a run retried by its user must be failed or
 * cancelled (`from: 'run'`), one retried from the dead-letter view must be failed.
 */
export class RunNotRetryable extends RunsError {
  readonly runId: string;
  readonly status: RunStatus;
  readonly from: 'run' | 'dead_letter';
  constructor(runId: string, status: RunStatus, from: 'run' | 'dead_letter') {
    super('run_not_retryable', from === 'run'
      ? `run ${runId} is ${status}; only failed or cancelled runs can be retried`
      : `run ${runId} is ${status}; only failed runs are retried from the dead-letter view`);
    this.runId = runId;
    this.status = status;
    this.from = from;
  }
}

/** The user already has as many runs going as allowed; try again after `retryAfterS`. */
export class AtRunLimit extends RunsError {
  readonly active: number;
  readonly limit: number;
  readonly retryAfterS: number;
  constructor(reason: string, active: number, limit: number, retryAfterS: number) {
    super('too_many_active_runs', `${reason}: wait for one to end, or cancel one`);
    this.active = active;
    this.limit = limit;
    this.retryAfterS = retryAfterS;
  }
}

/** The workspace a run asked to reuse is not an earlier run of the user's. */
export class WorkspaceNotFound extends RunsError {
  constructor(message: string, cause?: unknown) {
    super('workspace_not_found', message, { cause });
  }
}

/** The workspace a run asked to reuse was deleted by the retention policy. */
export class WorkspaceDeleted extends RunsError {
  constructor(message: string, cause?: unknown) {
    super('workspace_deleted', message, { cause });
  }
}

/** A value from the caller that the operation cannot use; the message starts with the field. */
export class InvalidInput extends RunsError {
  readonly field: string;
  constructor(field: string, problem: string) {
    super('invalid_request', `${field}: ${problem}`);
    this.field = field;
  }
}

/** A workspace path that is unsafe (`..`, absolute, control characters, …). */
export class InvalidPath extends RunsError {
  constructor(message: string, cause?: unknown) {
    super('invalid_path', message, { cause });
  }
}

/** No such file in the run's workspace. */
export class FileNotFound extends RunsError {
  readonly runId: string;
  readonly path: string;
  constructor(runId: string, path: string) {
    super('file_not_found', `file ${path} not found in the workspace of run ${runId}`);
    this.runId = runId;
    this.path = path;
  }
}

/** A dependency (Temporal, Redis, the database, S3, the token issuer) is unavailable: try again shortly. */
export class Unavailable extends RunsError {
  readonly dependency: string;
  constructor(dependency: string, cause?: unknown) {
    super('unavailable', `${dependency} is unavailable, try again shortly`, { cause });
    this.dependency = dependency;
  }
}

/**
 * A start whose outcome is unknown: the call failed and Temporal cannot say whether the
 * workflow exists. The record stays `queued`; an Idempotency-Key keeps the run id.
 */
export class StartOutcomeUnknown extends Unavailable {
  readonly runId: string;
  constructor(runId: string, cause: unknown) {
    super('Temporal', cause);
    this.runId = runId;
  }
}

/** A fork that cannot be made: `code` says why (the run has not ended, no such step, nothing after it, no workspace versions). */
export class NotForkable extends RunsError {
  readonly runId: string;
  constructor(runId: string, code: 'run_not_ended' | 'no_such_step' | 'nothing_after_step' | 'workspace_not_versioned' | 'workspace_version_gone', message: string, cause?: unknown) {
    super(code, message, { cause });
    this.runId = runId;
  }
}
