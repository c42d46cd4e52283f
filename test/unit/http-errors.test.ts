/**
 * The one table from domain errors to HTTP answers (src/api/errors.ts): every row, with the
 * status, code, message, details and headers the API answers it with.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdempotencyKeyReused, NotEnoughCredits, UnknownUser } from '../../src/accounts/errors.ts';
import { DOMAIN_ERRORS, httpErrorOf } from '../../src/api/errors.ts';
import { AlreadyRetried, DeadLetterNotFound, SigningUnavailable } from '../../src/ingress/errors.ts';
import {
  AtRunLimit, ExtraCreditsNotApplicable, FileNotFound, InvalidInput, InvalidPath, NotAwaitingApproval, NotForkable, RunClosed, RunNotFound, RunNotRetryable, RunNotStarted,
  StartOutcomeUnknown, Unavailable, WorkspaceDeleted, WorkspaceNotFound,
} from '../../src/runs/errors.ts';

const id = 'run_00000000000000000000000000';

interface Expected { status: number; code: string; message: string; details?: unknown; headers?: Record<string, string> }

const cases: [Error, Expected][] = [
  [new RunNotFound(id), { status: 404, code: 'not_found', message: `run ${id} not found` }],
  [new DeadLetterNotFound('dlq_1'), { status: 404, code: 'not_found', message: 'dead-lettered entry dlq_1 not found' }],
  [new FileNotFound(id, 'a/b.txt'), { status: 404, code: 'file_not_found', message: `file a/b.txt not found in the workspace of run ${id}` }],
  [new WorkspaceNotFound('workspaceId: run x not found'), { status: 404, code: 'workspace_not_found', message: 'workspaceId: run x not found' }],
  [new WorkspaceDeleted('workspaceId: deleted'), { status: 410, code: 'workspace_deleted', message: 'workspaceId: deleted' }],
  [new InvalidInput('cursor', 'is not a cursor of this listing'), { status: 400, code: 'invalid_request', message: 'cursor: is not a cursor of this listing' }],
  [new InvalidPath('path: must be relative'), { status: 400, code: 'invalid_path', message: 'path: must be relative' }],
  [new RunClosed(id, 'completed', 'start'), { status: 409, code: 'run_closed', message: `run ${id} has ended (completed); start a new one`, details: { status: 'completed' } }],
  [new RunClosed(id, 'failed', 'control'), { status: 409, code: 'run_closed', message: `run ${id} has ended (failed); it cannot be controlled any more`, details: { status: 'failed' } }],
  [new RunClosed(id, undefined, 'control'), { status: 409, code: 'run_closed', message: `run ${id} has ended; it cannot be controlled any more` }],
  [new RunNotStarted(id, 'created'), { status: 409, code: 'run_not_started', message: `run ${id} has not been started (POST /agent/execute with action start)`, details: { status: 'created' } }],
  [new NotAwaitingApproval(id, 'running'), { status: 409, code: 'not_awaiting_approval', message: `run ${id} is running, not awaiting approval`, details: { status: 'running' } }],
  [new ExtraCreditsNotApplicable(id, 'approval'), { status: 409, code: 'extra_credits_not_applicable', message: `extraCredits apply when run ${id} waits for budget; it waits for approval of its plan (answer without extraCredits)`, details: { waitingFor: 'approval' } }],
  [new RunNotRetryable(id, 'completed', 'run'), { status: 409, code: 'run_not_retryable', message: `run ${id} is completed; only failed or cancelled runs can be retried`, details: { status: 'completed' } }],
  [new RunNotRetryable(id, 'queued', 'dead_letter'), { status: 409, code: 'run_not_retryable', message: `run ${id} is queued; only failed runs are retried from the dead-letter view` }],
  [new UnknownUser('carol'), { status: 404, code: 'unknown_user', message: 'user carol has no account (a user gets one the first time they call the API; until then operators can neither grant them credits nor set their limits)' }],
  [new NotEnoughCredits('cannot deduct 10 credits, 3 available', 3), { status: 409, code: 'insufficient_credits', message: 'cannot deduct 10 credits, 3 available', details: { available: 3 } }],
  [new IdempotencyKeyReused(), { status: 422, code: 'idempotency_key_reused', message: 'Idempotency-Key was already used with a different request; use a new key for a new adjustment' }],
  [new NotForkable(id, 'run_not_ended', `run ${id} is running: fork it once it has ended`), { status: 409, code: 'run_not_ended', message: `run ${id} is running: fork it once it has ended` }],
  [new AlreadyRetried('dlq_1'), { status: 409, code: 'already_retried', message: 'dead-lettered entry dlq_1 is being retried already' }],
  [new AtRunLimit('2 runs are going (the limit is 2)', 2, 2, 10), {
    status: 429, code: 'too_many_active_runs', message: '2 runs are going (the limit is 2): wait for one to end, or cancel one',
    details: { active: 2, limit: 2 }, headers: { 'Retry-After': '10' },
  }],
  [new SigningUnavailable(), { status: 503, code: 'ingress_signing_unavailable', message: 'INGRESS_SIGNING_SECRET is not set: this API cannot sign the retried run\'s queue entry' }],
  [new Unavailable('Redis', new Error('ECONNREFUSED')), { status: 503, code: 'unavailable', message: 'Redis is unavailable, try again shortly' }],
  [new StartOutcomeUnknown(id, new Error('deadline')), { status: 503, code: 'unavailable', message: 'Temporal is unavailable, try again shortly' }],
];

describe('domain errors map to HTTP answers in one table', () => {
  for (const [err, want] of cases) {
    it(`${err.constructor.name} → ${want.status} ${want.code}`, () => {
      const http = httpErrorOf(err);
      assert.ok(http, `${err.constructor.name} has no row`);
      assert.deepEqual(
        { status: http.status, code: http.code, message: http.message, details: http.details, headers: http.headers },
        { status: want.status, code: want.code, message: want.message, details: want.details, headers: want.headers },
      );
    });
  }

  it('every row of the table is exercised above', () => {
    const covered = DOMAIN_ERRORS.filter((row) => cases.some(([err]) => err.constructor === row.error));
    assert.deepEqual(covered.map((r) => r.error.name), DOMAIN_ERRORS.map((r) => r.error.name));
  });

  it('an error that is not a domain error has no row (the middleware answers it 500)', () => {
    assert.equal(httpErrorOf(new Error('boom')), undefined);
    assert.equal(httpErrorOf({ status: 429 }), undefined);
  });
});
