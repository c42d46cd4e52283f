/**
 * The newest events of each followed run, kept in memory as the hub confirmed them, so a
 * client that fell behind (its socket wanted a drain) reads on from here instead of from
 * Redis: the same event objects every client was sent, their frames encoded once, so a
 * thousand lagging clients cost a thousand small arrays rather than a thousand pages.
 *
 * A run's tail is only ever a contiguous run of its stream: each event names the entry
 * before it (`prev`), and an event whose `prev` is not the tail's newest starts a new tail.
 * A cursor the tail does not cover (older than it, or unknown) is read from Redis.
 */
import type { StoredEvent } from '../infra/event-log.ts';
import { compareStreamIds } from '../shared/stream-id.ts';
import { frameOf } from './sse-writer.ts';

interface Tail {
  /** The stream id just before events[0] ('' when events[0] is the stream's first entry). */
  base: string;
  events: StoredEvent[];
  /** Index of the oldest event still kept (the array is compacted now and then). */
  start: number;
  bytes: number;
}

export interface RecentEventsLimits {
  /** Bytes of frames kept per run. */
  perRunBytes: number;
  /** Bytes of frames kept for all runs together; the least recently active runs' tails go first. */
  totalBytes: number;
}

/** About how many bytes one page read from a tail carries (no Redis read to save: small pages bound what a client holds). */
export const RECENT_PAGE_BYTES = 64 << 10;

export const DEFAULT_RECENT_LIMITS: RecentEventsLimits = { perRunBytes: 4 << 20, totalBytes: 64 << 20 };

export class RecentEvents {
  private readonly limits: RecentEventsLimits;
  /** Insertion order is recency: a run's tail is re-inserted when it grows. */
  private readonly tails = new Map<string, Tail>();
  private total = 0;

  constructor(limits: RecentEventsLimits = DEFAULT_RECENT_LIMITS) {
    this.limits = limits;
  }

  get bytes(): number {
    return this.total;
  }

  /** Records a confirmed event of the run (in stream order, as the hub dispatches them). */
  add(runId: string, e: StoredEvent): void {
    if (e.prev === undefined) return; // no link to its predecessor: contiguity cannot be shown
    const size = frameOf(e).length;
    if (size > this.limits.perRunBytes) {
      this.drop(runId);
      return;
    }
    let tail = this.tails.get(runId);
    const newest = tail && tail.events.length > tail.start ? tail.events.at(-1)!.id : tail?.base;
    if (tail && newest && compareStreamIds(e.id, newest) <= 0) return; // already held (a seed read it first)
    if (!tail || newest !== e.prev) {
      this.drop(runId);
      tail = { base: e.prev, events: [], start: 0, bytes: 0 };
    } else {
      this.tails.delete(runId); // re-inserted below: now the most recently active
    }
    this.tails.set(runId, tail);
    tail.events.push(e);
    tail.bytes += size;
    this.total += size;
    while (tail.bytes > this.limits.perRunBytes) this.shift(tail);
    for (const [other, t] of this.tails) {
      if (this.total <= this.limits.totalBytes || other === runId) break;
      this.total -= t.bytes;
      this.tails.delete(other);
    }
  }

  /**
   * Starts the run's tail from a read of the stream's newest entries (each with its `prev`),
   * so clients that connect later read their first page here too. Events confirmed
   * meanwhile are kept when they follow on from it.
   */
  seed(runId: string, events: readonly StoredEvent[]): void {
    const old = this.tails.get(runId);
    const live = old ? old.events.slice(old.start) : [];
    if (old && !(old.base === events[0]?.prev || events.some((e) => e.id === old.base))) return; // they do not join: keep the live one
    this.drop(runId);
    for (const e of [...events, ...live]) this.add(runId, e);
  }

  /**
   * The events after `cursor` (undefined: from the stream's start), about `maxBytes` of
   * them, when the run's tail covers the cursor; undefined when it does not. `more` says
   * the tail holds more after the page.
   */
  after(runId: string, cursor: string | undefined, maxBytes: number): { page: StoredEvent[]; more: boolean } | undefined {
    const tail = this.tails.get(runId);
    if (!tail) return undefined;
    const at = cursor ?? '';
    let from: number;
    if (at === tail.base) from = tail.start;
    else {
      if (at === '' || tail.events.length === tail.start) return undefined;
      const i = this.indexOf(tail, at);
      if (i < 0) return undefined;
      from = i + 1;
    }
    const page: StoredEvent[] = [];
    let bytes = 0;
    let i = from;
    for (; i < tail.events.length && bytes < maxBytes; i++) {
      page.push(tail.events[i]!);
      bytes += frameOf(tail.events[i]!).length;
    }
    return { page, more: i < tail.events.length };
  }

  /** Forgets the run's tail (its last follower left, or its messages may have been missed). */
  drop(runId: string): void {
    const tail = this.tails.get(runId);
    if (!tail) return;
    this.total -= tail.bytes;
    this.tails.delete(runId);
  }

  clear(): void {
    this.tails.clear();
    this.total = 0;
  }

  private indexOf(tail: Tail, id: string): number {
    let lo = tail.start;
    let hi = tail.events.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareStreamIds(tail.events[mid]!.id, id);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private shift(tail: Tail): void {
    const e = tail.events[tail.start]!;
    const size = frameOf(e).length;
    tail.base = e.id;
    tail.start += 1;
    tail.bytes -= size;
    this.total -= size;
    if (tail.start > 1024 && tail.start * 2 > tail.events.length) {
      tail.events = tail.events.slice(tail.start);
      tail.start = 0;
    }
  }
}
