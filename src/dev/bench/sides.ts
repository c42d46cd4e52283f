/**
 * The two sides the bench compares, each driven the way its users drive it: agentrun
 * through its HTTP API (POST a run, follow its SSE stream to `end`), bare Temporal
 * through the client (start BareRun, await its result). Each returns timings in ms.
 */
import type { Client } from '@temporalio/client';
import { readSse } from '../../client/sse.ts';
import { startRun } from './api.ts';

/** One run's timings: from the start request to the first sign of work, and to its end. */
export interface RunTiming { firstMs: number; endMs: number }

/** A prompt of `steps` trivial steps for the offline provider (`write_file`). */
export const trivialPrompt = (steps: number) => Array.from({ length: steps }, (_, i) => `write_file f${i}.txt x`).join('\n');

/**
 * agentrun: POST /v1/runs, then its event stream until `end` (first = the first event). A
 * run counts as done once its workflow has closed too, as the bare side's does (`result()`):
 * `end` goes out from the run's last workflow task, before the workflow completes, and a
 * sample that began then would time its start against the tail of the one before.
 */
export async function agentrunRun(base: string, client: Client, steps: number): Promise<RunTiming> {
  const t0 = performance.now();
  const id = await startRun(base, { prompt: trivialPrompt(steps) });
  let firstMs: number | undefined;
  let status = '';
  for await (const m of readSse(`${base}/v1/runs/${id}/events`)) {
    firstMs ??= performance.now() - t0;
    if (m.event === 'end') status = (JSON.parse(m.data) as { status?: string }).status ?? '';
  }
  if (status !== 'completed') throw new Error(`bench run ${id} ended ${status || 'without an end event'}`);
  const endMs = performance.now() - t0;
  await client.workflow.getHandle(id).result();
  return { firstMs: firstMs!, endMs };
}

/** Bare Temporal: start BareRun(steps) and await it (first = its first ActivityTaskStarted, from history). */
export async function bareRun(client: Client, taskQueue: string, steps: number, withFirst: boolean): Promise<RunTiming> {
  const wallStart = Date.now();
  const t0 = performance.now();
  const handle = await client.workflow.start('BareRun', { taskQueue, workflowId: `bench-bare-${crypto.randomUUID()}`, args: [steps] });
  await handle.result();
  const endMs = performance.now() - t0;
  if (!withFirst) return { firstMs: Number.NaN, endMs };
  const { events } = await handle.fetchHistory();
  const started = events?.find((e) => e.activityTaskStartedEventAttributes)?.eventTime;
  const atMs = started ? Number(started.seconds) * 1000 + Math.floor((started.nanos ?? 0) / 1e6) : Number.NaN;
  return { firstMs: atMs - wallStart, endMs };
}

/** N runs at once, each of `steps` steps: completed runs per second. */
export async function throughput(run: () => Promise<RunTiming>, n: number): Promise<number> {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: n }, run));
  return n / ((performance.now() - t0) / 1000);
}
