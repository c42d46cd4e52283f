/**
 * Following a run's events the way a demanding client must: every event once, in order,
 * across dropped connections, API restarts and token refreshes. Each reconnect resumes
 * with Last-Event-ID (the last id seen), waiting longer between tries (250 ms doubling to
 * 5 s) and giving up only after `giveUpAfterMs` without an answer. A stream the API ended
 * because the token expired (`: token expired`) or a 401 reconnects with the token source's
 * new token; with none, it fails with a reason. `untilLive` stops at the `: live` comment
 * (everything up to now has been sent): what `agentrun logs` without `--follow` shows.
 * Browser-safe (the web page follows runs with it): fetch and timers only, no Node modules.
 */
import { ApiError } from './api.ts';
import type { ApiClient } from './api.ts';
import type { SseMessage } from './sse.ts';

export interface FollowOptions {
  lastEventId?: string;
  signal?: AbortSignal;
  untilLive?: boolean;
  /** Told before each reconnect: why, and the id it resumes after. */
  onReconnect?: (why: string, lastEventId: string | undefined, attempt: number) => void;
  /** How long to keep trying while the API does not answer (ms; default 5 minutes). */
  giveUpAfterMs?: number;
}

/** Resolves after `ms`, or rejects when the signal aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('aborted'));
    const done = () => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', done);
      resolve();
    }, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;

/** Yields the run's events until the stream ends after an `end` event (or `: live` with untilLive, or the signal). */
export async function* followRun(client: ApiClient, runId: string, opts: FollowOptions = {}): AsyncGenerator<SseMessage> {
  let last = opts.lastEventId;
  let attempt = 0;
  let failingSince: number | undefined;
  let refusedToken: string | undefined;
  for (;;) {
    const connection = new AbortController();
    const stop = () => connection.abort();
    opts.signal?.addEventListener('abort', stop, { once: true });
    let live = false;
    let expired = false;
    let ended = false;
    let why: string;
    const usedToken = client.tokenNow();
    try {
      const onComment = (text: string) => {
        if (text === 'live' && opts.untilLive) {
          live = true;
          connection.abort();
        } else if (text.startsWith('token expired')) expired = true;
      };
      for await (const m of client.events(runId, { lastEventId: last, signal: connection.signal, onComment })) {
        attempt = 0;
        failingSince = undefined;
        if (m.id) last = m.id;
        yield m;
        ended = m.event === 'end';
      }
      // The API ends the stream after `end` unless more follows it (a reset run's events do).
      if (ended) return;
      why = expired ? 'the token expired' : 'the API ended the stream';
    } catch (err) {
      if (live || opts.signal?.aborted) return;
      if (err instanceof ApiError && err.status === 401) expired = true;
      else if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429 && err.status !== 408) throw err;
      why = err instanceof ApiError ? `${err.status === 0 ? 'unreachable' : err.status}: ${err.message}` : `connection lost: ${(err as Error).message}`;
    } finally {
      opts.signal?.removeEventListener('abort', stop);
    }
    if (live) return;
    if (expired) {
      // Only a new token helps; the same one again is refused for good.
      if (refusedToken !== undefined && refusedToken === usedToken && client.tokenNow() === usedToken) {
        throw new ApiError(401, 'token_expired', 'the token expired: sign in again (agentrun login, or a new AGENTRUN_TOKEN), then resume with agentrun logs --follow');
      }
      refusedToken = usedToken;
    }
    failingSince ??= Date.now();
    if (Date.now() - failingSince > (opts.giveUpAfterMs ?? 300_000)) throw new ApiError(0, 'unreachable', `gave up following run ${runId}: ${why}`);
    attempt += 1;
    opts.onReconnect?.(why, last, attempt);
    try {
      await sleep(expired && client.tokenNow() !== usedToken ? 0 : Math.min(FIRST_DELAY_MS * 2 ** (attempt - 1), MAX_DELAY_MS), opts.signal);
    } catch {
      return; // the signal
    }
  }
}
