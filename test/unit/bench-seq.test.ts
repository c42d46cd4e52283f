/** How the bench's SSE clients count (src/dev/bench/seq.ts), and how it reads the worker's RSS and fits MB per run (memory.ts): the pure parts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseVmRss, slope } from '../../src/dev/bench/memory.ts';
import { countSeqs, lastEventIdIn, SeqTracker, splitEvents } from '../../src/dev/bench/seq.ts';

describe('bench SSE counting', () => {
  it('splits whole events off a chunk and keeps the unfinished rest', () => {
    assert.deepEqual(splitEvents('id: 1\ndata: {"seq":0}\n\nid: 2\ndata: {"se'), { events: 'id: 1\ndata: {"seq":0}\n\n', rest: 'id: 2\ndata: {"se' });
    assert.deepEqual(splitEvents('data: x\n'), { events: '', rest: 'data: x\n' });
  });

  it('finds every bench sequence number in SSE text and in a pub/sub message', () => {
    const seen: number[] = [];
    countSeqs('event: log\ndata: {"stream":"bench","seq":7,"text":"bench event 7"}\n\nevent: log\ndata: {"seq":8}\n\n: heartbeat\n\n', (s) => seen.push(s));
    countSeqs('1-0 0-1\nlog\n{"stream":"bench","seq":9}', (s) => seen.push(s));
    countSeqs('{"seq":x} {"seq":12}', (s) => seen.push(s));
    assert.deepEqual(seen, [7, 8, 9, 12]);
  });

  it('finds the last event id at a line start (a reconnect resumes after it)', () => {
    assert.equal(lastEventIdIn('id: 1-0\nevent: log\ndata: {"seq":0}\n\nid: 2-0\nevent: log\ndata: {"note":"xid: 9"}\n\n'), '2-0');
    assert.equal(lastEventIdIn('retry: 2000\n\n: heartbeat\n\n'), undefined);
  });

  it('tallies distinct events and counts duplicates, gaps and strays as disorder', () => {
    const inOrder = new SeqTracker(3);
    for (const s of [0, 1, 2]) assert.equal(inOrder.see(s), true);
    assert.equal(inOrder.lossless(), true);
    const messy = new SeqTracker(3);
    assert.deepEqual([0, 2, 2, 1, 5].map((s) => messy.see(s)), [true, true, false, true, false]);
    assert.equal(messy.count, 3);
    assert.equal(messy.disorder, 4);
    assert.equal(messy.lossless(), false);
  });

  it('fits MB per run as the least-squares slope of RSS over runs waiting', () => {
    assert.equal(slope([{ x: 0, y: 100 }, { x: 10, y: 120 }, { x: 20, y: 140 }]), 2);
    assert.equal(slope([{ x: 0, y: 100 }, { x: 10, y: 130 }, { x: 20, y: 120 }, { x: 30, y: 160 }]), 1.7);
    assert.ok(Number.isNaN(slope([{ x: 5, y: 1 }])));
  });

  it('reads VmRSS from /proc/<pid>/status in MiB', () => {
    assert.equal(parseVmRss('Name:\tnode\nVmRSS:\t  204800 kB\nVmSwap:\t0 kB\n'), 200);
    assert.ok(Number.isNaN(parseVmRss('Name:\tnode\n')));
  });
});
