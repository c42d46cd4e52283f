/**
 * One Redis subscriber connection per API process, fanning run events out to
 * every local SSE client. Channels are subscribed while at least one client
 * follows the run. Pub/sub loses what is published while disconnected, so
 * after a reconnect every follower is told to resync from the stream.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { decodeMessage } from '../infra/event-log.ts';
import type { StoredEvent } from '../infra/event-log.ts';
import { redisKeys, runIdFromChannel } from '../shared/names.ts';

export interface Follower {
  onEvent(event: StoredEvent): void;
  /** Called after the subscription was re-established: re-read the stream from the cursor. */
  onResync(): void;
}

export class EventHub {
  private readonly sub: Redis;
  private readonly log: Logger;
  private readonly followers = new Map<string, Set<Follower>>();
  private connectedOnce = false;

  constructor(sub: Redis, log: Logger) {
    this.sub = sub;
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
    const set = runId ? this.followers.get(runId) : undefined;
    if (!set) return;
    const event = decodeMessage(message);
    if (!event) {
      this.log.warn({ channel }, 'undecodable event message');
      return;
    }
    for (const f of set) f.onEvent(event);
  }

  async close(): Promise<void> {
    this.followers.clear();
    this.sub.disconnect();
  }
}
