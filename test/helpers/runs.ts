/** Helpers that drive runs through the real HTTP API. */
import type { temporal } from '@temporalio/proto';
import { readSse } from '../../src/client/sse.ts';
import type { SseMessage } from '../../src/client/sse.ts';
import { apiFetch, authHeaders } from './auth.ts';

export async function createRun(api: string, prompt: string): Promise<string> {
  const res = await fetch(`${api}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders(api) }, body: JSON.stringify({ prompt }) });
  const body = (await res.json()) as { id: string };
  if (res.status !== 202) throw new Error(`create run answered ${res.status}: ${JSON.stringify(body)}`);
  return body.id;
}

/** Reads a run's SSE stream until the server ends it (after `end`), or `stopAfter` messages. */
/**
 * Follows a run's event stream until it ends, as an EventSource would: a connection the
 * server drops (a client it found too slow on a loaded machine) or that fails is opened
 * again with the last id seen, a few times. Answers other than 200 throw at once.
 */
export async function collect(api: string, runId: string, opts: { lastEventId?: string; stopAfter?: number; timeoutMs?: number } = {}): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`SSE collect of ${runId} timed out`)), opts.timeoutMs ?? 60_000);
  const done = () => opts.stopAfter !== undefined && out.length >= opts.stopAfter;
  let lastEventId = opts.lastEventId;
  try {
    for (let reconnects = 0; ; reconnects++) {
      try {
        for await (const m of readSse(`${api}/v1/runs/${runId}/events`, { lastEventId, signal: ac.signal, headers: authHeaders(api) })) {
          out.push(m);
          if (m.id) lastEventId = m.id;
          if (done()) {
            ac.abort();
            break;
          }
        }
        return out;
      } catch (err) {
        if (done()) return out;
        const answered = (err as { status?: number }).status !== undefined;
        if (answered || ac.signal.aborted || reconnects >= RECONNECTS) throw err;
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

const RECONNECTS = 5;

export const parse = (m: SseMessage) => JSON.parse(m.data) as Record<string, unknown>;

/** One call in a run's history: an activity (its scheduled event) or a local activity (its marker). */
export interface HistoryCall { name: string; local: boolean; attempt: number | undefined }

/**
 * The activities a run's history called, in order: activities by their scheduled event (the
 * attempt of their last start), local activities by their marker (the attempt it recorded).
 */
export function historyCalls(history: temporal.api.history.v1.IHistory): HistoryCall[] {
  const events = history.events ?? [];
  const started = new Map(events.flatMap((e) => {
    const s = e.activityTaskStartedEventAttributes;
    return s ? [[Number(s.scheduledEventId), s.attempt ?? 1] as const] : [];
  }));
  return events.flatMap((e): HistoryCall[] => {
    const scheduled = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (scheduled) return [{ name: scheduled, local: false, attempt: started.get(Number(e.eventId)) }];
    const marker = e.markerRecordedEventAttributes;
    const data = marker?.markerName === 'core_local_activity' ? marker.details?.data?.payloads?.[0]?.data : undefined;
    if (!data) return [];
    const la = JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type: string; attempt: number };
    return [{ name: la.activity_type, local: true, attempt: la.attempt }];
  });
}

/** The names of the activities a run's history called, in order (historyCalls). */
export const activityNames = (history: temporal.api.history.v1.IHistory): string[] => historyCalls(history).map((c) => c.name);

/** A run's view as GET /v1/runs/:id answers it (the fields tests read). */
export interface RunViewBody { status: string; error?: { code: string; message: string } }

/** Starts a run with `prompt`, follows its events to `end`, and reads its view: `{ id, events, view }`. */
export async function runToEnd(api: string, prompt: string, timeoutMs?: number): Promise<{ id: string; events: { event: string; data: Record<string, unknown> }[]; view: RunViewBody }> {
  const id = await createRun(api, prompt);
  const events = (await collect(api, id, timeoutMs === undefined ? {} : { timeoutMs })).map((m) => ({ event: m.event, data: parse(m) }));
  const res = await apiFetch(`${api}/v1/runs/${id}`);
  return { id, events, view: (await res.json()) as RunViewBody };
}
