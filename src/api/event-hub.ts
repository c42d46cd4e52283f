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

export interface Follower {
  onEvent(event: StoredEvent): void;
  /** Called after the subscription was re-established: re-read the stream from the cursor. */
  onResync(): void;
}

export class EventHub {
  private readonly sub: Redis;
  private readonly log: Logger;
  private readonly events: Pick<EventLog, 'entry'>;
  private readonly followers = new Map<string, Set<Follower>>();
  /** Per run, the stream read of the last message, so events are dispatched in message order. */
  private readonly lookups = new Map<string, Promise<void>>();
  private connectedOnce = false;
  /** Messages ignored because they named no entry of their run's stream. */
  ignored = 0;

  /** `sub` is a connection for SUBSCRIBE only; `events` reads the streams on another. */
  constructor(sub: Redis, events: Pick<EventLog, 'entry'>, log: Logger) {
    this.sub = sub;
    this.events = events;
    this.log = log;
    sub.on('message', (channel: string, message: string) => this.dispatch(channel, message));
    sub.on('ready', () => {
      if (this.connectedOnce) {
        log.info({ runs: this.followers.size }, 'event hub reconnected; resyncing followers');
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
    return () => this.unfollow(runId, follower);
  }

  private unfollow(runId: string, follower: Follower): void {
    const set = this.followers.get(runId);
    if (!set) return;
    set.delete(follower);
    if (set.size === 0) {
      this.followers.delete(runId);
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
    const next = (this.lookups.get(runId) ?? Promise.resolve()).then(() => this.confirm(runId, id));
    this.lookups.set(runId, next);
    void next.finally(() => { if (this.lookups.get(runId) === next) this.lookups.delete(runId); });
  }

  /** Reads the announced entry from the run's stream and hands it to the run's followers. */
  private async confirm(runId: string, id: string): Promise<void> {
    let event: StoredEvent | undefined;
    try {
      event = await this.events.entry(runId, id);
    } catch (err) {
      // Redis hiccup: the followers re-read the stream from their cursors.
      this.log.warn({ runId, err: (err as Error).message }, 'could not read an announced event; resyncing its followers');
      for (const f of this.followers.get(runId) ?? []) f.onResync();
      return;
    }
    if (!event) {
      this.ignore(runId, 'names no entry of the run\'s stream');
      return;
    }
    for (const f of this.followers.get(runId) ?? []) f.onEvent(event);
  }

  private ignore(runId: string, why: string): void {
    this.ignored += 1;
    if (this.ignored === 1 || this.ignored % 100 === 0) this.log.warn({ runId, ignored: this.ignored }, `pub/sub message ignored: it ${why}`);
  }

  async close(): Promise<void> {
    this.followers.clear();
    this.sub.disconnect();
  }
}
