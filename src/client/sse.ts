/**
 * A minimal SSE reader over fetch, used by the demo and the tests to read the
 * API the way a client would (ids, event names, Last-Event-ID, comments).
 */

export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

export interface SseReadOptions {
  lastEventId?: string;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  onComment?: (text: string) => void;
}

/** Yields messages until the server ends the response (or the signal aborts). Throws on a non-200 answer. */
export async function* readSse(url: string, opts: SseReadOptions = {}): AsyncGenerator<SseMessage> {
  const headers: Record<string, string> = { Accept: 'text/event-stream', ...opts.headers };
  if (opts.lastEventId) headers['Last-Event-ID'] = opts.lastEventId;
  const res = await fetch(url, { headers, signal: opts.signal });
  if (res.status !== 200 || !res.body) {
    const text = await res.text().catch(() => '');
    throw Object.assign(new Error(`SSE ${url} answered ${res.status}: ${text.slice(0, 300)}`), { status: res.status, body: text, headers: res.headers });
  }
  const decoder = new TextDecoder();
  let buffer = '';
  let msg: { id?: string; event?: string; data: string[] } = { data: [] };
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (line === '') {
        if (msg.data.length > 0 || msg.event) yield { id: msg.id, event: msg.event ?? 'message', data: msg.data.join('\n') };
        msg = { data: [] };
      } else if (line.startsWith(':')) {
        opts.onComment?.(line.slice(1).trim());
      } else {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') msg.id = value;
        else if (field === 'event') msg.event = value;
        else if (field === 'data') msg.data.push(value);
      }
    }
  }
}
