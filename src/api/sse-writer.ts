/**
 * The writing side of an SSE client: the response's head, then frames; the
 * frames queued in one turn of the event loop go out as one write; after each write the
 * writer says whether the client keeps up (its socket wants a drain: `onNeedDrain`) or is
 * over its buffer limit (`onOverflow`). An event's frame is formatted once for every
 * client that sends it. Also the options of a session.
 */
import type { Response } from 'express';
import type { StoredEvent } from '../infra/event-log.ts';

export interface SseOptions {
  heartbeatMs: number;
  /** Bytes a client may have buffered before it is dropped (it resumes from its last id). */
  maxBufferedBytes: number;
  /** Delay the client should wait before reconnecting. */
  retryMs: number;
  /** Most entries one catch-up read asks for. */
  pageSize: number;
  /** About how many bytes one catch-up read may bring: pages of large events ask for fewer entries. */
  pageBytes: number;
}

export const DEFAULT_SSE_OPTIONS: Omit<SseOptions, 'heartbeatMs'> = { maxBufferedBytes: 1 << 20, retryMs: 2000, pageSize: 2000, pageBytes: 256 << 10 };

/**
 * An event's SSE frame, formatted and encoded once per event object: the hub hands the same
 * object to every client following the run, so a thousand clients cost one JSON.stringify
 * and share one Buffer (a socket writes it without a copy of its own).
 */
const frames = new WeakMap<StoredEvent, Buffer>();
/** A shared frame's whole HTTP/1.1 chunk (size line, frame, CRLF), in one Buffer the frame is a view of. */
const chunks = new WeakMap<Buffer, Buffer>();
export function frameOf(e: StoredEvent): Buffer {
  let frame = frames.get(e);
  if (frame === undefined) {
    const text = `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`;
    const size = Buffer.byteLength(text, 'utf8');
    const head = `${size.toString(16)}\r\n`;
    const chunk = Buffer.allocUnsafe(head.length + size + 2);
    chunk.write(head, 0, 'latin1');
    chunk.write(text, head.length, 'utf8');
    chunk.write('\r\n', head.length + size, 'latin1');
    frame = chunk.subarray(head.length, head.length + size);
    frames.set(e, frame);
    chunks.set(frame, chunk);
  }
  return frame;
}

/** A frame as one HTTP/1.1 chunk: shared frames' chunks are built once, others now. */
function chunkOf(frame: string | Buffer): Buffer {
  if (typeof frame !== 'string') {
    const shared = chunks.get(frame);
    if (shared) return shared;
  }
  const body = typeof frame === 'string' ? Buffer.from(frame, 'utf8') : frame;
  return Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`, 'latin1'), body, CRLF]);
}
const CRLF = Buffer.from('\r\n', 'latin1');

/**
 * Entries the next catch-up read should ask for so that it carries about `pageBytes`,
 * from the frames of the page just read (at least 50, at most `pageSize`).
 */
export function nextPageCount(page: readonly StoredEvent[], opts: { pageSize: number; pageBytes: number }, current: number): number {
  if (page.length === 0) return current;
  let bytes = 0;
  for (const e of page) bytes += frameOf(e).length;
  const fit = Math.floor(opts.pageBytes / Math.max(1, bytes / page.length));
  return Math.max(Math.min(50, opts.pageSize), Math.min(opts.pageSize, fit));
}

/** Bytes of frames a client's writer holds before writing them without waiting for the turn to end. */
const QUEUED_BYTES = 64 << 10;

/**
 * The writers with frames queued this turn, flushed together by one setImmediate: an event
 * fanned out to a thousand clients schedules one callback, not a thousand.
 */
const queued = new Set<FrameWriter>();
let flushScheduled = false;
function flushQueued(): void {
  flushScheduled = false;
  const writers = [...queued];
  queued.clear();
  for (const w of writers) w.flush();
}

export interface FrameWriterHooks {
  /** The client's buffer passed `maxBufferedBytes` (it should be dropped). */
  onOverflow(buffered: number): void;
  /** The socket wants a drain: the client reads slower than frames come. */
  onNeedDrain(): void;
}

export class FrameWriter {
  private readonly res: Response;
  private readonly maxBufferedBytes: number;
  private readonly hooks: FrameWriterHooks;
  private pending: (string | Buffer)[] = [];
  private pendingBytes = 0;
  /** The head is written and the body is chunked: frames go to the socket as chunks. */
  private chunked = false;

  constructor(res: Response, maxBufferedBytes: number, hooks: FrameWriterHooks) {
    this.res = res;
    this.maxBufferedBytes = maxBufferedBytes;
    this.hooks = hooks;
  }

  /**
   * Starts the event stream, chunked. Node's response writes each chunk as three socket
   * writes through its own bookkeeping, which was most of the cost of a thousand clients;
   * so once the head is out, each frame goes to the socket as one ready-made chunk, shared
   * by every client for an event's frame. (A body ended by closing the connection instead,
   * not chunked, was as cheap, but Node's own fetch (undici) fails an assertion when such a
   * body ends while its reader is paused.) `end()` writes the last chunk as usual.
   */
  writeHead(): void {
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    this.res.flushHeaders();
    // The head is on the socket: frames go there as ready-made chunks (see flush()).
    this.chunked = this.res.chunkedEncoding && this.res.socket !== null;
  }

  /**
   * Queues a frame; the frames of one turn of the event loop go out together (one writev).
   * Past QUEUED_BYTES they go out at once, so a burst (hundreds of events confirmed in one
   * read) shows a slow client's full socket after 64 KiB, not after the whole burst.
   */
  send(frame: string | Buffer): void {
    this.pending.push(frame);
    this.pendingBytes += frame.length;
    if (this.pendingBytes >= QUEUED_BYTES) {
      this.flush();
      return;
    }
    queued.add(this);
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(flushQueued);
  }

  /** Writes the queued frames now, then tells the hooks how the client keeps up. */
  flush(): void {
    queued.delete(this);
    if (this.pending.length === 0 || this.res.destroyed) {
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    const frames = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    const socket = this.res.socket;
    if (this.chunked && socket) {
      // Several frames go out in one writev; a lone one (most often, a live event) needs no cork.
      const several = frames.length > 1;
      if (several) socket.cork();
      for (const f of frames) socket.write(chunkOf(f));
      if (several) socket.uncork();
    } else {
      // Corked: the shared frames go out in one writev, none copied into a per-client string.
      this.res.cork();
      for (const f of frames) this.res.write(f);
      this.res.uncork();
    }
    if (this.res.writableLength > this.maxBufferedBytes) this.hooks.onOverflow(this.res.writableLength);
    else if (this.needsDrain) this.hooks.onNeedDrain();
  }

  /**
   * Whether the client's socket wants a drain. Asked of the socket, not the response: the
   * socket is what emits 'drain', and a response can report a need (a corked chunked one,
   * its own buffer past the mark) that its socket, having taken everything, never drains.
   */
  get needsDrain(): boolean {
    return this.res.socket?.writableNeedDrain ?? false;
  }

  /** Resolves true once the client's socket drained, false when it did not within `timeoutMs` or the client left. */
  drained(timeoutMs: number): Promise<boolean> {
    const socket = this.res.socket;
    if (!socket || !socket.writableNeedDrain) return Promise.resolve(!this.res.destroyed);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        socket.off('drain', onDrain);
        this.res.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      socket.once('drain', onDrain);
      this.res.once('close', onClose);
    });
  }

  /** Writes what is queued and ends the response. */
  end(): void {
    this.flush();
    this.res.end();
  }

  /** Drops what is queued and cuts the connection (the client resumes from its last id). */
  abort(): void {
    this.pending = [];
    this.pendingBytes = 0;
    this.res.destroy();
  }
}
