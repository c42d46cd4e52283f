/**
 * One Redis subscriber connection per API process, fanning run events out to
 * every local SSE client. Channels are subscribed while at least one client
 * follows the run. Pub/sub loses what is published while disconnected, so
 * after a reconnect every follower is told to resync from the stream.
 *
 * A message is only a hint: its first word must be a stream id, and the event
 * delivered is that entry as the run's own stream holds it (read once per process,
 * in message order per run). A message naming no entry of the run is ignored.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { announcedId } from '../infra/event-log.ts';
import type { EventLog, StoredEvent } from '../infra/event-log.ts';
import { redisKeys, runIdFromChannel } from '../shared/names.ts';
import { RecentEvents } from './recent-events.ts';

export interface Follower {
  onEvent(event: StoredEvent): void;
  /** Called after the subscription was re-established: re-read the stream from the cursor. */
  onResync(): void;
}

/** Most announced entries one read confirms. */
const CONFIRM_BATCH = 500;
/** Entries read to start a run's tail when its first client follows. */
const SEED_ENTRIES = 500;

export class EventHub {
  private readonly sub: Redis;
  private readonly log: Logger;
  private readonly events: Pick<EventLog, 'entries' | 'newest'>;
  private readonly followers = new Map<string, Set<Follower>>();
  /** Per run, the ids announced and not yet read; one reader per run drains them in order. */
  private readonly announced = new Map<string, string[]>();
  private connectedOnce = false;
  /** The newest confirmed events of each followed run, for clients that fell behind. */
  private readonly recent = new RecentEvents();
  /** Messages ignored because they named no entry of their run's stream. */
  ignored = 0;

  /** `sub` is a connection for SUBSCRIBE only; `events` reads the streams on another. */
  constructor(sub: Redis, events: Pick<EventLog, 'entries' | 'newest'>, log: Logger) {
    this.sub = sub;
    this.events = events;
    this.log = log;
    sub.on('message', (channel: string, message: string) => this.dispatch(channel, message));
    sub.on('ready', () => {
      if (this.connectedOnce) {
        log.info({ runs: this.followers.size }, 'event hub reconnected; resyncing followers');
        this.recent.clear(); // messages were lost meanwhile: the tails start again from the next one
        for (const set of this.followers.values()) for (const f of set) f.onResync();
      }
      this.connectedOnce = true;
    });
    sub.on('error', (err: Error) => log.warn({ err: err.message }, 'event hub redis error'));
  }

  get clientCount(): number {
    let n = 0;
    for (const set of this.followers.values()) n += set.size;
    return n;
  }

  /** Adds a follower; resolves once the channel subscription is active. Returns the unsubscribe function. */
  async follow(runId: string, follower: Follower): Promise<() => void> {
    let set = this.followers.get(runId);
    const first = !set;
    if (!set) {
      set = new Set();
      this.followers.set(runId, set);
    }
    set.add(follower);
    if (first || this.sub.status !== 'ready') {
      try {
        await this.sub.subscribe(redisKeys.logsChannel(runId));
      } catch (err) {
        this.unfollow(runId, follower);
        throw err;
      }
    }
    if (first) void this.seed(runId); // not awaited: this client's own first read need not wait for it
    return () => this.unfollow(runId, follower);
  }

  /**
   * Once subscribed, the run's newest entries start its tail: the clients that connect
   * next read their first page from memory, sharing it, instead of each from Redis.
   */
  private async seed(runId: string): Promise<void> {
    try {
      const events = await this.events.newest(runId, SEED_ENTRIES);
      if (this.followers.has(runId)) this.recent.seed(runId, events);
    } catch (err) {
      this.log.warn({ runId, err: (err as Error).message }, 'could not read the newest events; clients read them from the stream');
    }
  }

  private unfollow(runId: string, follower: Follower): void {
    const set = this.followers.get(runId);
    if (!set) return;
    set.delete(follower);
    if (set.size === 0) {
      this.followers.delete(runId);
      this.recent.drop(runId);
      this.sub.unsubscribe(redisKeys.logsChannel(runId)).catch(() => undefined);
    }
  }

  private dispatch(channel: string, message: string): void {
    const runId = runIdFromChannel(channel);
    if (!runId || !this.followers.has(runId)) return;
    const id = announcedId(message);
    if (!id) {
      this.ignore(runId, 'names no stream id');
      return;
    }
    const queued = this.announced.get(runId);
    if (queued) {
      queued.push(id); // the run's reader takes it with the others announced meanwhile
      return;
    }
    this.announced.set(runId, [id]);
    void this.confirm(runId);
  }

  /**
   * Reads the announced entries from the run's stream, as many as were announced meanwhile
   * in one read (a burst of a thousand lines is a few reads, not a thousand), and hands
   * them to the run's followers in message order.
   */
  private async confirm(runId: string): Promise<void> {
    for (;;) {
      const queued = this.announced.get(runId) ?? [];
      const ids = queued.splice(0, CONFIRM_BATCH);
      if (ids.length === 0) {
        this.announced.delete(runId);
        return;
      }
      let events: StoredEvent[];
      try {
        events = await this.events.entries(runId, ids);
      } catch (err) {
        // Redis hiccup: the followers re-read the stream from their cursors.
        this.log.warn({ runId, err: (err as Error).message }, 'could not read announced events; resyncing their followers');
        for (const f of this.followers.get(runId) ?? []) f.onResync();
        continue;
      }
      for (let i = events.length; i < ids.length; i++) this.ignore(runId, 'names no entry of the run\'s stream');
      const set = this.followers.get(runId);
      if (!set) continue;
      for (const event of events) {
        if (!this.followers.has(runId)) break; // the last follower left meanwhile
        this.recent.add(runId, event);
        for (const f of set) f.onEvent(event);
      }
    }
  }

  /**
   * The run's events after `cursor` from memory, about `maxBytes` of them, when the hub's
   * tail of the run covers the cursor (undefined: read the stream). `more`: the tail has more.
   */
  recentAfter(runId: string, cursor: string | undefined, maxBytes: number): { page: StoredEvent[]; more: boolean } | undefined {
    return this.recent.after(runId, cursor, maxBytes);
  }

  /** Bytes of frames the tails hold (a gauge). */
  get recentBytes(): number {
    return this.recent.bytes;
  }

  private ignore(runId: string, why: string): void {
    this.ignored += 1;
    if (this.ignored === 1 || this.ignored % 100 === 0) this.log.warn({ runId, ignored: this.ignored }, `pub/sub message ignored: it ${why}`);
  }

  async close(): Promise<void> {
    this.followers.clear();
    this.announced.clear();
    this.recent.clear();
    this.sub.disconnect();
  }
}
