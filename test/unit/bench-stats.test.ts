/** The bench's arithmetic and flags (src/dev/bench): quantiles by nearest rank, ratios, the table, refusals. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBenchArgs } from '../../src/dev/bench/index.ts';
import { figure, median, quantile, table } from '../../src/dev/bench/stats.ts';

describe('bench statistics', () => {
  it('takes quantiles by nearest rank, unsorted input, NaN when empty', () => {
    const xs = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    assert.equal(median(xs), 5);
    assert.equal(quantile(xs, 0.99), 10);
    assert.equal(quantile(xs, 0), 1);
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });

  it('puts each figure next to its baseline with the ratio', () => {
    const f = figure({ id: 'P1', what: 'runs/s', unit: 'runs/s', agentrun: 3, baseline: 12, baselineWhat: 'bare', higherIsBetter: true });
    assert.equal(f.ratio, 0.25);
    assert.equal(table([f]).split('\n')[2], '| P1 | runs/s | 3.00 runs/s | 12.0 runs/s (bare) | 0.25× (higher is better) |');
  });

  it('reads its flags, with --quick as a small default, and refuses a bad number', () => {
    assert.deepEqual(parseBenchArgs([]), { runs: 20, steps: 5, rounds: 3, samples: 10 });
    assert.deepEqual(parseBenchArgs(['--quick', '--runs', '8']), { runs: 8, steps: 2, rounds: 1, samples: 3 });
    assert.throws(() => parseBenchArgs(['--steps', 'many']), /--steps takes a whole number from 1 to 10000, not "many"/);
  });
});
