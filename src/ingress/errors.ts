/** The refusals of operator actions on the dead-letter view (src/ingress/queue-service.ts); src/api/errors.ts maps them to HTTP. */
import { RunsError } from '../runs/errors.ts';

/** No dead-lettered entry with this id (any more). */
export class DeadLetterNotFound extends RunsError {
  readonly entryId: string;
  constructor(entryId: string) {
    super('not_found', `dead-lettered entry ${entryId} not found`);
    this.entryId = entryId;
  }
}

/** Another retry of the entry is under way. */
export class AlreadyRetried extends RunsError {
  readonly entryId: string;
  constructor(entryId: string) {
    super('already_retried', `dead-lettered entry ${entryId} is being retried already`);
    this.entryId = entryId;
  }
}

/** INGRESS_SIGNING_SECRET is not set, so a retried run's queue entry cannot be signed. */
export class SigningUnavailable extends RunsError {
  constructor() {
    super('ingress_signing_unavailable', 'INGRESS_SIGNING_SECRET is not set: this API cannot sign the retried run\'s queue entry');
  }
}
