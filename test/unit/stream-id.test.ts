import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareStreamIds, isStreamId } from '../../src/shared/stream-id.ts';

describe('stream ids', () => {
  it('validates the <ms>-<seq> form', () => {
    assert.ok(isStreamId('1700000000000-0'));
    assert.ok(!isStreamId('1700000000000'));
    assert.ok(!isStreamId('abc-1'));
    assert.ok(!isStreamId('1-2-3'));
  });
  it('orders numerically, not lexically', () => {
    assert.ok(compareStreamIds('9-0', '10-0') < 0);
    assert.ok(compareStreamIds('10-2', '10-10') < 0);
    assert.equal(compareStreamIds('5-5', '5-5'), 0);
    assert.ok(compareStreamIds('18446744073709551615-1', '18446744073709551615-0') > 0);
  });
});
