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
  it('orders as the numbers do, leading zeros and 20-digit parts included (against BigInt on 20,000 random pairs)', () => {
    const digits = (n: number) => Array.from({ length: n }, () => String(Math.floor(Math.random() * 10))).join('');
    const part = () => (Math.random() < 0.3 ? digits(1 + Math.floor(Math.random() * 3)) : digits(1 + Math.floor(Math.random() * 20)));
    const id = () => `${part()}-${part()}`;
    const byBigInt = (a: string, b: string) => {
      const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
      const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
      return am !== bm ? (am < bm ? -1 : 1) : as !== bs ? (as < bs ? -1 : 1) : 0;
    };
    for (let i = 0; i < 20_000; i++) {
      const a = id();
      const b = Math.random() < 0.2 ? a.replace(/^/, '0') : Math.random() < 0.2 ? `${a.split('-')[0]}-${part()}` : id();
      assert.equal(compareStreamIds(a, b), byBigInt(a, b), `${a} vs ${b}`);
      assert.equal(compareStreamIds(b, a), byBigInt(b, a), `${b} vs ${a}`);
    }
    assert.equal(compareStreamIds('007-0', '7-0'), 0);
    assert.ok(compareStreamIds('0-0', '0-1') < 0);
  });
});
