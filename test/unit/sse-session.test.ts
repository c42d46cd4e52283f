/**
 * An SSE session's end of stream when the run's own `end` comes by the idle check's read
 * while the client's socket wants a drain: exactly one `end`, the run's, and the response
 * ends once the client drained it. (Seen under load: a client got the run's `end`, then a
 * synthetic one without an id.) The response is a stand-in whose socket says when it wants
 * a drain; the session, its writer and their timers are the real ones.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { it } from 'node:test';
import type { Response } from 'express';
import pino from 'pino';
import type { EventHub } from '../../src/api/event-hub.ts';
import { SseSession } from '../../src/api/sse.ts';
import type { EventLog, StoredEvent } from '../../src/infra/event-log.ts';
import { compareStreamIds } from '../../src/shared/stream-id.ts';

class FakeSocket extends EventEmitter {
  writableNeedDrain = false;
}

class FakeResponse extends EventEmitter {
  readonly socket = new FakeSocket();
  readonly written: string[] = [];
  chunkedEncoding = false;
  destroyed = false;
  writableLength = 0;
  ended = false;
  writeHead(): this { return this; }
  flushHeaders(): void {}
  cork(): void {}
  uncork(): void {}
  write(frame: string | Buffer): boolean {
    this.written.push(frame.toString());
    return true;
  }
  end(): void {
    this.ended = true;
    this.emit('close');
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

it('an idle check that reads the run\'s own `end` while the client lags sends no second `end`, and ends the stream after the drain', async () => {
  const stream: StoredEvent[] = [];
  const res = new FakeResponse();
  const events = {
    hasGap: () => Promise.resolve(undefined),
    readAfter: (_run: string, cursor: string | undefined) => {
      const page = stream.filter((e) => cursor === undefined || compareStreamIds(e.id, cursor) > 0);
      if (page.some((e) => e.type === 'end')) res.socket.writableNeedDrain = true; // the client reads slowly: these fill its socket
      return Promise.resolve(page);
    },
  } as unknown as EventLog;
  const hub = { follow: () => Promise.resolve(() => undefined), recentAfter: () => undefined } as unknown as EventHub;
  const opts = { heartbeatMs: 20, maxBufferedBytes: 1 << 20, retryMs: 2000, pageSize: 100, pageBytes: 1 << 16 };
  const session = new SseSession({ hub, events, log: pino({ level: 'silent' }), isClosed: () => Promise.resolve({ closed: true, status: 'completed' }) }, opts, 'run-1', res as unknown as Response, undefined);
  await session.open();
  // The run's last events reach the stream, not the client (no live message): the idle check finds them.
  stream.push({ id: '100-1', type: 'log', data: { text: 'last line' }, prev: '' }, { id: '100-2', type: 'end', data: { status: 'completed' }, prev: '100-1' });
  await sleep(100); // idle checks come every heartbeatMs
  const ends = () => res.written.filter((f) => f.includes('event: end'));
  assert.equal(ends().length, 1, `one end event: ${JSON.stringify(res.written)}`);
  assert.match(ends()[0]!, /^id: 100-2\n/, 'the run\'s own, with its id');
  assert.equal(res.ended, false, 'the stream waits for the drain');
  res.socket.writableNeedDrain = false;
  res.socket.emit('drain');
  await session.done();
  assert.equal(res.ended, true);
  assert.equal(ends().length, 1, `still one end event: ${JSON.stringify(res.written)}`);
});
