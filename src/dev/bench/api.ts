/**
 * What the bench's rows share: the processes and connections a row may use (BenchRig),
 * and the few calls of agentrun's HTTP API they make (start, cancel, list by status).
 */
import type { ChildProcess } from 'node:child_process';
import type { BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { StackContext } from '../context.ts';
import { waitFor } from '../proc.ts';
import type { BenchParams } from './args.ts';

export interface BenchRig {
  ctx: StackContext;
  p: BenchParams;
  /** The environment the bench's worker and API run with (the stack's, plus bench limits). */
  env: Record<string, string>;
  /** The bench's API, e.g. http://127.0.0.1:40123 (its worker uses SANDBOX's default). */
  base: string;
  /** The bench's own Temporal dev server (server.ts), both sides' server, and its metrics. */
  temporal: ChildProcess;
  temporalMetrics: string;
  worker: ChildProcess;
  /** The bench's API processes (p.apis, sharing the port) and the bare side's worker (for CPU accounting). */
  apis: ChildProcess[];
  bareWorker: ChildProcess;
  tag: string;
  say: (line: string) => void;
  /** Log file of a process the bench starts. */
  logs: (name: string) => string;
}

/**
 * Activity slots of both sides' workers (WORKER_MAX_CONCURRENT_ACTIVITIES; the SDK's default):
 * more than a P1 round's runs hold at once, so every step is dispatched eagerly on both sides.
 */
export const ACTIVITY_SLOTS = 100;

/** What a Kubernetes row (kube.ts, cancel.ts) works with: the SANDBOX=kubernetes API, the tools namespace, admin clients. */
export interface KubeRig {
  base: string;
  namespace: string;
  kc: KubeConfig;
  batch: BatchV1Api;
  core: CoreV1Api;
}

/** POST /v1/runs; returns the run id. */
export async function startRun(base: string, body: { prompt: string; requireApproval?: boolean }): Promise<string> {
  const res = await fetch(`${base}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 202) throw new Error(`POST /v1/runs answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return ((await res.json()) as { id: string }).id;
}

/** POST /v1/runs/:id/cancel (202, or 409 when it already ended). */
export async function cancelRun(base: string, id: string): Promise<void> {
  const res = await fetch(`${base}/v1/runs/${id}/cancel`, { method: 'POST' });
  await res.body?.cancel();
  if (res.status !== 202 && res.status !== 409) throw new Error(`POST /v1/runs/${id}/cancel answered ${res.status}`);
}

/** The ids among `ids` whose status is one of `statuses` (GET /v1/runs?status=…, every page). */
export async function runsIn(base: string, ids: ReadonlySet<string>, statuses: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ status: statuses.join(','), limit: '100', ...(cursor ? { cursor } : {}) });
    const res = await fetch(`${base}/v1/runs?${q.toString()}`);
    if (!res.ok) throw new Error(`GET /v1/runs answered ${res.status}`);
    const page = (await res.json()) as { runs: { id: string }[]; nextCursor: string | null };
    for (const r of page.runs) if (ids.has(r.id)) found.add(r.id);
    cursor = page.nextCursor;
  } while (cursor);
  return found;
}

/** Waits until every run of `ids` has one of `statuses`. */
export async function waitForStatus(base: string, ids: readonly string[], statuses: readonly string[], timeoutMs: number): Promise<void> {
  const want = new Set(ids);
  await waitFor(`${ids.length} run(s) to be ${statuses.join(' or ')}`, timeoutMs, async () => (await runsIn(base, want, statuses)).size === want.size);
}

/** Cancels the runs (8 requests at a time) and waits until each has ended. */
export async function cancelAll(base: string, ids: readonly string[], timeoutMs = 300_000): Promise<void> {
  for (let i = 0; i < ids.length; i += 8) await Promise.all(ids.slice(i, i + 8).map((id) => cancelRun(base, id)));
  await waitForStatus(base, ids, ['cancelled', 'failed', 'completed'], timeoutMs);
}
