/**
 * The refusals of account operations, domain errors like the runs' (RunsError: a stable
 * `code` the API answers with); src/api/errors.ts maps each to a status.
 */
import { RunsError } from '../runs/errors.ts';

/** An operator named a user the system has never seen (no account). */
export class UnknownUser extends RunsError {
  readonly userId: string;
  constructor(userId: string) {
    super('unknown_user', `user ${userId} has no account (a user gets one the first time they call the API; until then operators can neither grant them credits nor set their limits)`);
    this.userId = userId;
  }
}

/** An Idempotency-Key used before for a different adjustment. */
export class IdempotencyKeyReused extends RunsError {
  constructor() {
    super('idempotency_key_reused', 'Idempotency-Key was already used with a different request; use a new key for a new adjustment');
  }
}

/** A deduction larger than what the user has available. */
export class NotEnoughCredits extends RunsError {
  readonly available: number;
  constructor(message: string, available: number) {
    super('insufficient_credits', message);
    this.available = available;
  }
}
