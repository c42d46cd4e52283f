/** The bench's parameters (src/dev/bench/args.ts): flags over BENCH_* over the defaults, --quick, --only, refusals. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBenchArgs, parseOnly, ROW_GROUPS } from '../../src/dev/bench/args.ts';

describe('bench parameters', () => {
  it('has full-size defaults and every row group', () => {
    const p = parseBenchArgs([]);
    assert.deepEqual(p, { runs: 20, steps: 5, rounds: 3, samples: 10, clients: 1000, events: 5000, rate: 50, backlog: 10_000, waiting: 200, apis: 2, only: [...ROW_GROUPS] });
  });

  it('takes small defaults with --quick (or BENCH_QUICK=1), a flag over its BENCH_ variable', () => {
    const p = parseBenchArgs(['--quick', '--runs', '8'], { BENCH_RUNS: '9', BENCH_CLIENTS: '70' });
    assert.equal(p.runs, 8);
    assert.equal(p.clients, 70);
    assert.equal(p.events, 500);
    assert.equal(p.waiting, 20);
    assert.equal(p.apis, 1);
    assert.equal(parseBenchArgs(['--apis', '3']).apis, 3);
    assert.equal(parseBenchArgs([], { BENCH_QUICK: '1' }).steps, 2);
  });

  it('picks row groups with --only (any case, bench order) or BENCH_ONLY', () => {
    assert.deepEqual(parseBenchArgs(['--only', 'p5,P3']).only, ['P3', 'P5']);
    assert.deepEqual(parseBenchArgs([], { BENCH_ONLY: 'P2b' }).only, ['P2b']);
    assert.deepEqual(parseOnly('P1, P7'), ['P1', 'P7']);
  });

  it('refuses a bad number or an unknown row, naming the flag or variable', () => {
    assert.throws(() => parseBenchArgs(['--steps', 'many']), /--steps takes a whole number from 1 to 10000, not "many"/);
    assert.throws(() => parseBenchArgs([], { BENCH_CLIENTS: '0' }), /BENCH_CLIENTS takes a whole number from 1 to 10000, not "0"/);
    assert.throws(() => parseBenchArgs(['--only', 'P3,P9']), /--only takes row ids from P1, P2, P2b, P3, P4, P5, P6, P7 \(comma-separated\), not "P9"/);
    assert.throws(() => parseBenchArgs(['--only', ',']), /--only takes row ids/);
  });
});
