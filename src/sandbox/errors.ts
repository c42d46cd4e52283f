/**
 * The sandbox's refusals: an execution that cannot give a result, where running the
 * same again cannot help. Transient trouble (an API outage, a Job deleted under us)
 * stays a plain Error. src/activities/errors.ts maps these to Temporal failures.
 */

export class SandboxError extends Error {
  /** What the executor saw (Job name, reason, terminated containers), for the failure's details. */
  readonly details?: Record<string, unknown>;
  constructor(message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = new.target.name;
    this.details = details;
  }
}

/** Thrown when an execution's Job failed (a container exited non-zero, was OOM-killed, or could not start), when Kubernetes refused the Job, or when its name belongs to another execution. */
export class SandboxFailed extends SandboxError {}

/** Thrown when an execution's Job ran past its activeDeadlineSeconds. */
export class SandboxDeadlineExceeded extends SandboxError {}

/** Thrown when a Job completed but its runner left no result record. */
export class SandboxNoResult extends SandboxError {}
