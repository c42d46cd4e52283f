/**
 * The SSE writer's turn: every client's frames of one turn go out in the next, one write
 * per client (corked when there are several), one setImmediate for all the clients; and
 * the per-event verdict on what may reach a client. The response is a stand-in that
 * records its socket's writes; the writer is the real one.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { it } from 'node:test';
import type { Response } from 'express';
import { FrameWriter, frameOf } from '../../src/api/sse-writer.ts';
import { deliveryVerdict } from '../../src/infra/event-log.ts';
import type { StoredEvent } from '../../src/infra/event-log.ts';

class FakeSocket extends EventEmitter {
  writableNeedDrain = false;
  corks = 0;
  readonly writes: string[] = [];
  cork(): void { this.corks += 1; }
  uncork(): void {}
  write(chunk: Buffer): boolean {
    this.writes.push(chunk.toString());
    return true;
  }
}

class FakeResponse extends EventEmitter {
  readonly socket = new FakeSocket();
  chunkedEncoding = true;
  destroyed = false;
  writableLength = 0;
  writeHead(): this { return this; }
  flushHeaders(): void {}
  destroy(): void { this.destroyed = true; }
}

const hooks = { onOverflow: () => assert.fail('no overflow'), onNeedDrain: () => undefined };

function writers(n: number): { res: FakeResponse; w: FrameWriter }[] {
  return Array.from({ length: n }, () => {
    const res = new FakeResponse();
    const w = new FrameWriter(res as unknown as Response, 1 << 20, hooks);
    w.writeHead();
    return { res, w };
  });
}

const event = (seq: number): StoredEvent => ({ id: `100-${seq}`, type: 'log', data: { text: `line ${seq}` } });

it('frames sent to many clients in one turn go out in the next, one uncorked write per client with one frame', async () => {
  const clients = writers(50);
  const e = event(1);
  for (const { w } of clients) w.send(frameOf(e));
  for (const { res } of clients) assert.equal(res.socket.writes.length, 0, 'nothing before the turn ends');
  await nextTurn();
  for (const { res } of clients) {
    assert.deepEqual(res.socket.writes, [`${frameOf(e).length.toString(16)}\r\nid: 100-1\nevent: log\ndata: {"text":"line 1"}\n\n\r\n`]);
    assert.equal(res.socket.corks, 0);
  }
});

it('a client\'s frames of one turn go out corked and in order; a later turn writes again', async () => {
  const [{ res, w }] = writers(1) as [{ res: FakeResponse; w: FrameWriter }];
  w.send(frameOf(event(1)));
  w.send(': live\n\n');
  w.send(frameOf(event(2)));
  await nextTurn();
  assert.equal(res.socket.corks, 1);
  assert.deepEqual(res.socket.writes.map((c) => c.split('\r\n')[1]!.split('\n')[0]), ['id: 100-1', ': live', 'id: 100-2']);
  w.send(frameOf(event(3)));
  await nextTurn();
  assert.equal(res.socket.writes.length, 4);
  assert.match(res.socket.writes[3]!, /id: 100-3/);
});

it('past 64 KiB queued a client writes at once; an aborted client writes nothing at the end of the turn', async () => {
  const [a, b] = writers(2) as [{ res: FakeResponse; w: FrameWriter }, { res: FakeResponse; w: FrameWriter }];
  const big = `data: ${'x'.repeat(70 << 10)}\n\n`;
  a.w.send(big);
  assert.equal(a.res.socket.writes.length, 1, 'written without waiting for the turn');
  b.w.send(frameOf(event(1)));
  b.w.abort();
  await nextTurn();
  assert.equal(a.res.socket.writes.length, 1, 'not written twice');
  assert.equal(b.res.socket.writes.length, 0);
  assert.equal(b.res.destroyed, true);
});

it('an event\'s verdict: a stream id and a known type, else why not', () => {
  assert.equal(deliveryVerdict(event(1)), 'ok');
  assert.equal(deliveryVerdict({ id: '100-1\nevent: end', type: 'log', data: {} }), 'invalid id');
  assert.equal(deliveryVerdict({ id: '100-2', type: 'invalid' as StoredEvent['type'], data: {} }), 'undeliverable');
  const e = { id: '100-3', type: 'nonsense' as StoredEvent['type'], data: {} };
  assert.equal(deliveryVerdict(e), 'undeliverable');
  assert.equal(deliveryVerdict(e), 'undeliverable', 'the same object, the same verdict');
});
