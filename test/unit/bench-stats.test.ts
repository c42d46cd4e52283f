/** The bench's arithmetic (src/dev/bench/stats.ts): quantiles by nearest rank, ratios, the table with skipped and baseline-less rows. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { figure, median, quantile, skipped, table } from '../../src/dev/bench/stats.ts';

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

  it('prints a baseline in its own unit without a ratio, a row without a baseline, and a skipped row with its reason', () => {
    const perRun = figure({ id: 'P6', what: 'RSS per run', unit: 'MB/run', agentrun: 0.5, baseline: 210, baselineUnit: 'MB', baselineWhat: 'idle', higherIsBetter: false, ratio: Number.NaN });
    const alone = figure({ id: 'P7 end p50', what: 'cancel → end', unit: 'ms', agentrun: 120, baseline: Number.NaN, baselineWhat: '', higherIsBetter: false });
    const rows = table([perRun, alone, skipped('P5', 'Kubernetes step', 'no control plane')]).split('\n').slice(2);
    assert.deepEqual(rows, [
      '| P6 | RSS per run | 0.50 MB/run | 210 MB (idle) | — |',
      '| P7 end p50 | cancel → end | 120 ms | — | — |',
      '| P5 | Kubernetes step | skipped: no control plane | — | — |',
    ]);
  });
});
