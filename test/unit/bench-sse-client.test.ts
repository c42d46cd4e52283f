/** The bench's bare-socket SSE client (src/dev/bench/sse-client.ts) against a real node:http server (a drop and a resume, a refusal) and a bare one whose response arrives a few bytes at a time (cuts in a chunk's size line, in `"seq":N`, in an id). */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { follow, streamOnce } from '../../src/dev/bench/sse-client.ts';
import { countSeqs, SeqTracker } from '../../src/dev/bench/seq.ts';

const frame = (seq: number) => `id: 1-${seq}\nevent: log\ndata: {"stream":"bench","seq":${seq}}\n\n`;

describe('bench SSE client', () => {
  const asked: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    if (req.url !== '/events') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no such run"}');
      return;
    }
    const last = req.headers['last-event-id'] as string | undefined;
    asked.push(last);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (last === undefined) {
      // Events 0–4, the last one cut in two writes (two chunks), a heartbeat, then the connection drops.
      const text = [0, 1, 2, 3, 4].map(frame).join('') + ': heartbeat\n\n';
      res.write(text.slice(0, 50));
      res.write(text.slice(50, 120));
      res.write(text.slice(120), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    const from = Number(last.split('-')[1]) + 1;
    for (let seq = from; seq < 8; seq += 1) res.write(frame(seq));
    res.end('id: 1-8\nevent: end\ndata: {"status":"completed"}\n\n');
  });
  let base = '';
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reads every event once across a dropped connection, resuming after the last id, until the end event', async () => {
    const seen = new SeqTracker(8);
    let opened = 0;
    const reconnects = await follow(`${base}/events`, undefined, new AbortController().signal, () => { opened += 1; }, (text) => countSeqs(text, (s) => seen.see(s)));
    assert.equal(reconnects, 1);
    assert.equal(opened, 1, 'onOpen is for the first response only');
    assert.deepEqual(asked, [undefined, '1-4']);
    assert.equal(seen.lossless(), true, `${seen.count} of 8 events, ${seen.disorder} out of order`);
  });

  it('reads an HTTP/1.1 chunked response that arrives a few bytes at a time, cut anywhere', async () => {
    // What the API sends, framed by hand: the head, then each event as one chunk (size line, frame, CRLF).
    const frames = [...Array.from({ length: 12 }, (_, i) => frame(i)), ': heartbeat\n\n', 'id: 1-12\nevent: end\ndata: {"status":"completed"}\n\n'];
    const wire = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'
      + frames.map((f) => `${Buffer.byteLength(f).toString(16)}\r\n${f}\r\n`).join('') + '0\r\n\r\n';
    const slow = createTcpServer((socket: Socket) => {
      socket.setNoDelay(true);
      socket.once('data', async () => {
        // Pieces of 7, 50, 3, 91 and 13 bytes in turn: cuts land in size lines, ids, `"seq":N` and blank lines.
        for (let at = 0, i = 0; at < wire.length; i += 1) {
          const size = [7, 50, 3, 91, 13][i % 5]!;
          socket.write(wire.slice(at, at + size));
          at += size;
          await sleep(1);
        }
        socket.end();
      });
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const seen = new SeqTracker(12);
      const r = await streamOnce(new URL(`http://127.0.0.1:${(slow.address() as AddressInfo).port}/events`), undefined, new AbortController().signal, () => undefined, (text) => countSeqs(text, (s) => seen.see(s)));
      assert.deepEqual(r, { sawEnd: true, lastId: '1-12' });
      assert.equal(seen.lossless(), true, `${seen.count} of 12 events, ${seen.disorder} out of order`);
    } finally {
      await new Promise<void>((resolve) => slow.close(() => resolve()));
    }
  });

  it('rejects a response other than 200 with its status line', async () => {
    await assert.rejects(follow(`${base}/missing`, undefined, new AbortController().signal, () => undefined, () => undefined), /answered HTTP\/1\.1 404 Not Found/);
  });

  it('stops when aborted, without waiting for the end', async () => {
    const abort = new AbortController();
    abort.abort();
    assert.equal(await follow(`${base}/events`, undefined, abort.signal, () => undefined, () => undefined), 0);
  });
});
