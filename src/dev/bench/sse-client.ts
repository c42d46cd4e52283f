/**
 * The bench's SSE client (P3, P4): an EventSource's behaviour — follow a run's stream, and
 * when the server drops it, reconnect with Last-Event-ID until the `end` event — on a bare
 * TCP socket speaking HTTP/1.1, the way load generators such as wrk do. A thousand of them
 * share the bench's one process with the publisher and the raw subscriber; through
 * node:http each delivery also went through a response parser and a stream, and the
 * clients' own CPU became most of what P3 measured. The body is read without decoding its
 * chunks: the chunks' size lines cannot hold the three things looked for (`"seq":N`, an
 * `id: ` line, `event: end`), and `Connection: close` ends the response with the socket.
 */
import { connect } from 'node:net';
import { lastEventIdIn, splitEvents } from './seq.ts';

export type OnText = (text: string) => void;

const HEAD_END = '\r\n\r\n';

/**
 * One response of an SSE stream, handed on as text blocks of whole events; resolves when the
 * socket closes, with whether the `end` event came and the last event id seen. Rejects on a
 * status other than 200, or a socket error before the head (ECONNREFUSED, ECONNRESET).
 */
export function streamOnce(url: URL, lastEventId: string | undefined, signal: AbortSignal, onOpen: () => void, onText: OnText): Promise<{ sawEnd: boolean; lastId: string | undefined }> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve({ sawEnd: false, lastId: lastEventId });
    let sawEnd = false;
    let lastId = lastEventId;
    let head: string | undefined = '';
    let carry = '';
    const socket = connect({ host: url.hostname, port: Number(url.port || 80), noDelay: true });
    const onAbort = () => socket.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    socket.setEncoding('latin1'); // the bench reads only ASCII (ids, event names, "seq":N)
    socket.on('connect', () => {
      socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\nConnection: close\r\n${lastEventId ? `Last-Event-ID: ${lastEventId}\r\n` : ''}\r\n`);
    });
    socket.on('data', (chunk: string) => {
      if (head !== undefined) {
        head += chunk;
        const end = head.indexOf(HEAD_END);
        if (end < 0) return;
        if (!head.startsWith('HTTP/1.1 200 ')) {
          socket.destroy();
          reject(new Error(`SSE ${url.pathname} answered ${head.slice(0, head.indexOf('\r\n'))}`));
          return;
        }
        chunk = head.slice(end + HEAD_END.length);
        head = undefined;
        onOpen();
      }
      const { events, rest } = splitEvents(carry + chunk);
      carry = rest;
      if (!events) return;
      lastId = lastEventIdIn(events) ?? lastId;
      if (events.includes('event: end\n')) sawEnd = true;
      onText(events);
    });
    socket.on('error', (err) => { if (head !== undefined && !signal.aborted) reject(err); }); // after the head, a drop ends in 'close': the caller reconnects
    socket.on('close', () => {
      signal.removeEventListener('abort', onAbort);
      resolve({ sawEnd, lastId });
    });
  });
}

/**
 * Follows a run's SSE stream the way an EventSource does, reconnecting with Last-Event-ID
 * when the server drops it (a slow client is dropped), until its `end` event or `signal`.
 * Returns how many times it reconnected.
 */
export async function follow(url: string, from: string | undefined, signal: AbortSignal, onOpen: () => void, onText: OnText): Promise<number> {
  const target = new URL(url);
  let lastId = from;
  for (let reconnects = 0; ; reconnects += 1) {
    // A connection the server reset before answering is tried again, as EventSource does.
    const r = await streamOnce(target, lastId, signal, reconnects === 0 ? onOpen : () => undefined, onText)
      .catch((err: NodeJS.ErrnoException) => { if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return { sawEnd: false, lastId }; throw err; });
    lastId = r.lastId;
    if (r.sawEnd || signal.aborted) return reconnects;
    if (reconnects === 100) throw new Error(`SSE ${url}: dropped 100 times`);
  }
}
