/** The wait before the next attempt of a step whose outside service failed (src/activities/tools/outside.ts retriedAfter). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { outsideFailure, retriedAfter } from '../../src/activities/tools/outside.ts';

describe('retriedAfter', () => {
  const failed = () => outsideFailure('FetchUnavailable', 'GET https://example.com/ answered 503');

  it('waits OUTSIDE_RETRY_MS, doubling per attempt up to 8 times it, and keeps the failure\'s type and words', () => {
    const waits = [1, 2, 3, 4, 5, 6].map((attempt): unknown => retriedAfter(failed(), 100, attempt).nextRetryDelay);
    assert.deepEqual(waits, [100, 200, 400, 800, 800, 800]);
    const again = retriedAfter(failed(), 100, 1);
    assert.equal(again.type, 'FetchUnavailable');
    assert.equal(again.message, 'GET https://example.com/ answered 503');
    assert.equal(again.nonRetryable, false);
  });

  it('keeps the service\'s own wait (Retry-After) and leaves a failure that is not retried as it is', () => {
    const said = outsideFailure('SearchUnavailable', 'Brave answered 429', { nextRetryDelayMs: 5000 });
    assert.equal(retriedAfter(said, 100, 1), said);
    const final = ApplicationFailure.create({ type: 'McpUnavailable', message: 'timed out', nonRetryable: true });
    assert.equal(retriedAfter(final, 100, 1), final);
  });
});
