/**
 * One SSE client of a run's events. It follows the run's channel first, then
 * reads the stream after its cursor (the client's Last-Event-ID), then goes
 * live; live events that arrive during a read are held and delivered after it,
 * skipping any the read already sent. So there is no gap and no duplicate at
 * the switch-over, nor after a Redis reconnect (resync re-reads from the cursor).
 */
import type { Response } from 'express';
import type { Logger } from 'pino';
import type { EventHub, Follower } from './event-hub.ts';
import { deliveryVerdict } from '../infra/event-log.ts';
import type { EventLog, StoredEvent } from '../infra/event-log.ts';
import { compareStreamIds } from '../shared/stream-id.ts';
import { RECENT_PAGE_BYTES } from './recent-events.ts';
import { FrameWriter, frameOf, nextPageCount } from './sse-writer.ts';
import type { SseOptions } from './sse-writer.ts';

export interface SseDeps {
  hub: EventHub;
  events: EventLog;
  log: Logger;
  /** Asked when idle: has the run closed without an `end` event (e.g. terminated)? */
  isClosed: () => Promise<{ closed: boolean; status?: string }>;
  /** The run's archived log after an id, or undefined when it has none (yet). */
  archive?: (afterId: string | undefined) => Promise<StoredEvent[] | undefined>;
}

export class SseSession implements Follower {
  private readonly deps: SseDeps;
  private readonly opts: SseOptions;
  private readonly runId: string;
  private readonly res: Response;
  private cursor: string | undefined;
  private reading = false;
  private rereadWanted = false;
  private held: StoredEvent[] = [];
  private closed = false;
  private unfollow: (() => void) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private onClosed: (() => void) | undefined;
  private lastDeliveryAt = Date.now();
  /** Entries the next catch-up read asks for, sized from the last page's events. */
  private pageCount: number;
  private readonly out: FrameWriter;
  /**
   * The client reads slower than events come: its socket wants a drain. Live events are not
   * queued in memory (the stream holds them); after the drain it reads on from its cursor.
   */
  private lagging = false;
  /** The `: live` comment went out: the client has had everything up to now (`agentrun logs` stops there). */
  private live = false;
  /** The last event sent was `end`: the stream ends unless more follows it (a reset run's events do). */
  private ended = false;

  constructor(deps: SseDeps, opts: SseOptions, runId: string, res: Response, lastEventId: string | undefined) {
    this.deps = deps;
    this.opts = opts;
    this.runId = runId;
    this.res = res;
    this.cursor = lastEventId;
    this.pageCount = Math.min(opts.pageSize, 250); // grows once the events' size is known
    this.out = new FrameWriter(res, opts.maxBufferedBytes, {
      onOverflow: (buffered) => {
        if (this.closed) return;
        this.deps.log.info({ runId: this.runId, buffered }, 'dropping slow SSE client');
        this.close(true);
      },
      onNeedDrain: () => { if (!this.closed && !this.reading) this.lag(); }, // a read waits for drains itself
    });
  }

  /**
   * The next page after the cursor: from the hub's recent events (the objects and frames every
   * client shares) when they cover it, else from the stream; sized to carry about pageBytes (a
   * thousand clients catching up must not each hold pageSize of 1 KB lines). `full`: more may
   * follow. `fromStream`: the stream's own answer, to its end (the hub may lag behind it).
   */
  private async readPage(fromStream = false): Promise<{ page: StoredEvent[]; full: boolean }> {
    // An empty answer only says the hub has confirmed nothing newer yet: the stream is asked.
    const recent = fromStream ? undefined : this.deps.hub.recentAfter(this.runId, this.cursor, Math.min(this.opts.pageBytes, RECENT_PAGE_BYTES));
    if (recent && recent.page.length > 0) return { page: recent.page, full: recent.more };
    const count = this.pageCount;
    const page = await this.deps.events.readAfter(this.runId, this.cursor, count);
    this.pageCount = nextPageCount(page, this.opts, count);
    return { page, full: page.length >= count };
  }

  /** Subscribes and performs the first read before any header is sent, so a Redis outage is a clean 503. */
  async open(): Promise<void> {
    // Live events that arrive before the first read is written are held (nothing may be
    // written before the headers, and the read decides where the client resumes).
    this.reading = true;
    this.unfollow = await this.deps.hub.follow(this.runId, this);
    let first: { page: StoredEvent[]; full: boolean };
    let backfill: { notice: Record<string, unknown>; events: StoredEvent[] } | undefined;
    try {
      backfill = await this.backfill();
      first = await this.readPage();
    } catch (err) {
      this.unfollow();
      throw err;
    }
    this.out.writeHead();
    this.out.send(`retry: ${this.opts.retryMs}\n\n`);
    this.res.on('close', () => this.close()); // the client left, or the response ended
    if (this.res.destroyed) {
      this.close(); // the client left while the first read ran
      return;
    }
    this.heartbeat = setInterval(() => this.tick(), this.opts.heartbeatMs);
    if (backfill) {
      this.out.send(`event: gap\ndata: ${JSON.stringify(backfill.notice)}\n\n`);
      for (const e of backfill.events) this.deliver(e);
      if (this.closed) return;
    }
    const cut = this.deliverPage(first.page);
    if (!first.full && !cut) this.finishRead();
    else void this.read();
  }

  /**
   * When the stream no longer holds everything after the client's id (trimmed,
   * or expired after the run), the events come from the S3 archive, announced
   * by a `gap` event. Without an archive (the run is still going), the notice
   * says what was lost and the stream continues from its oldest entry.
   */
  private async backfill(): Promise<{ notice: Record<string, unknown>; events: StoredEvent[] } | undefined> {
    const gap = await this.deps.events.hasGap(this.runId, this.cursor);
    if (!gap) return undefined;
    const archived = await this.deps.archive?.(this.cursor);
    if (archived) {
      // Later events are read from the stream after the last archived one (deliver() skips repeats).
      return { notice: { after: this.cursor ?? null, reason: gap, backfill: 'archive', events: archived.length }, events: archived };
    }
    if (gap === 'missing') return undefined; // a new run whose first event is not written yet
    const oldest = (await this.deps.events.readAfter(this.runId, undefined, 1))[0];
    const notice = { after: this.cursor ?? null, reason: gap, backfill: null, resumesAt: oldest?.id ?? null };
    this.cursor = undefined;
    return { notice, events: [] };
  }

  /**
   * Delivers a page's events up to about pageBytes (a page sized from smaller events may
   * bring more); true when it stopped early: the rest is read again from the cursor.
   */
  private deliverPage(page: readonly StoredEvent[]): boolean {
    let bytes = 0;
    for (const e of page) {
      if (bytes >= this.opts.pageBytes) return true;
      this.deliver(e);
      bytes += frameOf(e).length;
    }
    return false;
  }

  /** Resolves when the session ends (end event, client gone, or dropped). */
  done(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) resolve();
      else this.onClosed = resolve;
    });
  }

  onEvent(event: StoredEvent): void {
    if (this.closed) return;
    if (this.reading) this.held.push(event);
    else if (this.lagging) return; // read after the drain
    else if (!this.follows(event)) void this.read(); // something was published while we were not subscribed: the stream has it
    else {
      this.deliver(event);
      if (this.ended) this.close(); // live: nothing follows it
    }
  }

  /** Does a live event come right after what the client has (or is it one it already has)? */
  private follows(e: StoredEvent): boolean {
    if (e.prev === undefined) return true;
    if (this.cursor === undefined) return e.prev === '';
    return e.prev === this.cursor || compareStreamIds(e.id, this.cursor) <= 0;
  }

  onResync(): void {
    if (this.closed) return;
    if (this.reading) this.rereadWanted = true;
    else void this.read();
  }

  /**
   * Reads from the cursor to the newest event the hub confirmed, or to the stream's end
   * (`fromStream`, or when the hub has nothing newer); false when Redis failed (a retry is scheduled).
   */
  private async read(fromStream = false): Promise<boolean> {
    this.reading = true;
    try {
      for (;;) {
        const { page, full } = await this.readPage(fromStream);
        const cut = this.deliverPage(page);
        if (this.closed || (!full && !cut)) break;
        this.out.flush();
        if (this.out.needsDrain) await this.drainOrDrop();
        if (this.closed) return true;
      }
      this.finishRead();
      return true;
    } catch (err) {
      // Redis away: keep the client, try again shortly (or on resync).
      this.deps.log.warn({ runId: this.runId, err: (err as Error).message }, 'event read failed; retrying');
      this.reading = false;
      this.held = [];
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.onResync(), 1000);
      return false;
    }
  }

  private finishRead(): void {
    const held = this.held;
    this.held = [];
    this.reading = false;
    if (this.out.needsDrain) {
      this.lag(); // the held events are in the stream: read them after the drain
      return;
    }
    let bytes = 0;
    for (const e of held) {
      // Many events came during the read: the stream has them too, read in pages with drains between.
      if (!this.follows(e) || bytes > this.opts.pageBytes) {
        void this.read();
        return;
      }
      this.deliver(e);
      bytes += frameOf(e).length;
    }
    if (this.rereadWanted && !this.closed) {
      this.rereadWanted = false;
      void this.read();
    }
    if (this.ended) this.close();
    if (this.live || this.reading || this.closed) return;
    this.live = true;
    this.out.send(': live\n\n');
  }

  private deliver(e: StoredEvent): void {
    if (this.closed) return;
    // Ids and types reach a response only when valid (an id is written verbatim after `id:`).
    const verdict = deliveryVerdict(e);
    if (verdict === 'invalid id') {
      this.deps.log.warn({ runId: this.runId }, 'event with an invalid id skipped');
      return;
    }
    if (this.cursor !== undefined && compareStreamIds(e.id, this.cursor) <= 0) return;
    this.cursor = e.id;
    if (verdict !== 'ok') {
      this.deps.log.warn({ runId: this.runId, id: e.id }, 'stream entry with an unknown type or unreadable data skipped');
      return;
    }
    this.lastDeliveryAt = Date.now();
    this.out.send(frameOf(e));
    this.ended = e.type === 'end';
  }

  /** Sends nothing more until the client drained what it has, then reads on from the cursor. */
  private lag(): void {
    if (this.lagging || this.closed) return;
    this.lagging = true;
    void this.drainOrDrop().then(() => {
      this.lagging = false;
      this.onResync();
    });
  }

  /** Waits for the client to drain; one that does not within 30 s is dropped (it resumes from its last id). */
  private async drainOrDrop(): Promise<void> { if (!(await this.out.drained(30_000))) this.close(true); }

  private tick(): void {
    if (this.closed) return;
    this.out.send(': heartbeat\n\n');
    if (this.reading || this.lagging || Date.now() - this.lastDeliveryAt < this.opts.heartbeatMs) return;
    // A run closed without `end` (terminated) ends the stream once all it holds was delivered (a failed read ends nothing; one that brought the run's own `end` closes once the client drained it, with no second `end`).
    this.deps.isClosed().then(async ({ closed, status }) => {
      if (!closed || this.closed || this.reading) return;
      if (!(await this.read(true)) || this.closed || this.reading || this.ended) return;
      this.deps.log.info({ runId: this.runId, cursor: this.cursor, status }, 'run closed without an end event after the cursor: ending its stream with a synthetic end');
      this.out.send(`event: end\ndata: ${JSON.stringify({ status, synthetic: true })}\n\n`);
      this.close();
    }).catch(() => undefined);
  }

  close(abort = false): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.retryTimer);
    this.unfollow?.();
    if (abort) this.out.abort(); else this.out.end();
    this.onClosed?.();
  }
}
