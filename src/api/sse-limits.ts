/**
 * Caps on open event streams (SSE) in one API process: per user (SSE_MAX_STREAMS_PER_USER,
 * 429 beyond, so one caller cannot hold every socket) and in all (SSE_MAX_STREAMS, 503
 * beyond, so the process keeps memory and file descriptors for everyone else). A stream
 * holds its place from the moment it is accepted until its response closes.
 */
import { TooManyRequestsError, HttpError } from './errors.ts';

export interface SseLimitsOptions { perUser: number; total: number }

export class SseLimits {
  private readonly opts: SseLimitsOptions;
  private readonly byUser = new Map<string, number>();
  private total = 0;

  constructor(opts: SseLimitsOptions) {
    this.opts = opts;
  }

  /** Open streams now (all users). */
  get open(): number {
    return this.total;
  }

  /** Takes a place for a stream of `userId`; the returned function gives it back (once). 429 / 503 when full. */
  acquire(userId: string): () => void {
    const mine = this.byUser.get(userId) ?? 0;
    if (mine >= this.opts.perUser) {
      throw new TooManyRequestsError('too_many_streams', `you have ${mine} event streams open (the limit is ${this.opts.perUser}): close one first`, 5, { open: mine, limit: this.opts.perUser });
    }
    if (this.total >= this.opts.total) {
      throw new HttpError(503, 'server_busy', `this server holds its maximum of ${this.opts.total} event streams: reconnect shortly (with Last-Event-ID)`, undefined, { 'Retry-After': '5' });
    }
    this.byUser.set(userId, mine + 1);
    this.total += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total -= 1;
      const n = (this.byUser.get(userId) ?? 1) - 1;
      if (n <= 0) this.byUser.delete(userId);
      else this.byUser.set(userId, n);
    };
  }
}
