/**
 * The hub's recent events: served only for a cursor the contiguous tail covers, cut to a
 * byte budget, bounded per run and in total, restarted when an event does not follow on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StoredEvent } from '../../src/infra/event-log.ts';
import { RecentEvents } from '../../src/api/recent-events.ts';
import { frameOf } from '../../src/api/sse-writer.ts';

const ev = (n: number, prev: number | '' = n - 1, text = 'x'): StoredEvent =>
  ({ id: `100-${n}`, type: 'log', data: { text }, prev: prev === '' ? '' : prev === 0 ? '' : `100-${prev}` });
const ids = (r: { page: StoredEvent[] } | undefined) => r?.page.map((e) => e.id);

describe('RecentEvents', () => {
  it('serves events after a cursor the tail covers, and from the start when the tail starts the stream', () => {
    const r = new RecentEvents();
    for (let n = 1; n <= 5; n++) r.add('a', ev(n));
    assert.deepEqual(ids(r.after('a', undefined, 1 << 20)), ['100-1', '100-2', '100-3', '100-4', '100-5']);
    assert.deepEqual(ids(r.after('a', '100-3', 1 << 20)), ['100-4', '100-5']);
    assert.deepEqual(ids(r.after('a', '100-5', 1 << 20)), []);
    assert.equal(r.after('a', '100-9', 1 << 20), undefined, 'an id the tail does not hold');
    assert.equal(r.after('b', undefined, 1 << 20), undefined, 'a run without a tail');
  });

  it('does not serve a cursor older than the tail, and starts a new tail when an event does not follow on', () => {
    const r = new RecentEvents();
    r.add('a', ev(3)); // its predecessor 100-2 was never seen
    assert.equal(r.after('a', undefined, 1 << 20), undefined, 'the stream start is not covered');
    assert.deepEqual(ids(r.after('a', '100-2', 1 << 20)), ['100-3']);
    r.add('a', ev(4));
    r.add('a', ev(6, 5)); // 100-5 was missed: what was kept cannot be continued
    assert.equal(r.after('a', '100-3', 1 << 20), undefined);
    assert.deepEqual(ids(r.after('a', '100-5', 1 << 20)), ['100-6']);
    r.add('a', { ...ev(7), prev: undefined });
    assert.deepEqual(ids(r.after('a', '100-5', 1 << 20)), ['100-6'], 'an event without prev is not kept');
  });

  it('a seed from the stream starts a tail that events confirmed meanwhile join; a seed that does not join leaves the live tail', () => {
    const r = new RecentEvents();
    r.add('a', ev(4)); // confirmed while the seed read was in flight
    r.seed('a', [ev(1, ''), ev(2), ev(3), ev(4)]);
    assert.deepEqual(ids(r.after('a', undefined, 1 << 20)), ['100-1', '100-2', '100-3', '100-4']);
    r.add('a', ev(5));
    assert.deepEqual(ids(r.after('a', '100-3', 1 << 20)), ['100-4', '100-5']);
    const s = new RecentEvents();
    s.add('b', ev(9));
    s.seed('b', [ev(1, ''), ev(2)]); // older than the live tail, and not joined to it
    assert.equal(s.after('b', undefined, 1 << 20), undefined);
    assert.deepEqual(ids(s.after('b', '100-8', 1 << 20)), ['100-9']);
  });

  it('cuts a page at the byte budget and says more follows', () => {
    const r = new RecentEvents();
    for (let n = 1; n <= 10; n++) r.add('a', ev(n, n - 1, 'y'.repeat(100)));
    const size = frameOf(ev(1, '', 'y'.repeat(100))).length;
    const page = r.after('a', undefined, size * 3)!;
    assert.equal(page.page.length, 3);
    assert.equal(page.more, true);
    assert.equal(r.after('a', '100-7', size * 3)!.more, false);
  });

  it('keeps at most perRunBytes per run (older ones go; the cursor before them is no longer covered) and totalBytes for all', () => {
    const size = frameOf(ev(1, '', 'z'.repeat(1000))).length;
    const r = new RecentEvents({ perRunBytes: size * 4 + 10, totalBytes: size * 6 + 20 });
    for (let n = 1; n <= 10; n++) r.add('a', ev(n, n - 1, 'z'.repeat(1000)));
    assert.equal(r.after('a', undefined, 1 << 20), undefined);
    assert.deepEqual(ids(r.after('a', '100-6', 1 << 20)), ['100-7', '100-8', '100-9', '100-10']);
    assert.ok(r.bytes <= size * 4 + 10);
    for (let n = 1; n <= 4; n++) r.add('b', ev(n, n - 1, 'z'.repeat(1000)));
    assert.ok(r.bytes <= size * 6 + 20, `${r.bytes}`);
    assert.equal(r.after('a', '100-6', 1 << 20), undefined, 'the least recently active run\'s tail went first');
    assert.deepEqual(ids(r.after('b', undefined, 1 << 20)), ['100-1', '100-2', '100-3', '100-4']);
    r.drop('b');
    assert.equal(r.bytes, 0);
  });
});
