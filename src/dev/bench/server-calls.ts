/**
 * What a bench side asks of its Temporal server: the server's own counters (its Prometheus
 * metrics) of requests to its services and of reads and writes to its database, by operation,
 * per run (a request that passes two of its services counts in each). Two sides with the same
 * calls per run cost the server about the same in calls; a difference
 * names the part that costs more (a step dispatched through the task queue instead of eagerly
 * shows as AddActivityTask, PollActivityTaskQueue and RecordActivityTaskStarted).
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** The server adds to its counters about once a second: a snapshot waits this long first. */
const REPORT_WAIT_MS = 1500;

const COUNTER = /^(service_requests|persistence_requests|visibility_persistence_requests)\{(.*)\} ([0-9.e+-]+)$/;

export type CallCounts = Map<string, number>;

/** The counters now (see parseCalls). */
export async function serverCalls(metricsUrl: string): Promise<CallCounts> {
  await sleep(REPORT_WAIT_MS);
  return parseCalls(await (await fetch(metricsUrl)).text());
}

/** Prometheus text → `service:Operation` / `db:Operation` → count, summed over the server's services. */
export function parseCalls(text: string): CallCounts {
  const counts: CallCounts = new Map();
  for (const line of text.split('\n')) {
    const m = COUNTER.exec(line);
    const op = m && /operation="([^"]+)"/.exec(m[2]!)?.[1];
    if (!m || !op) continue;
    const key = `${m[1] === 'service_requests' ? 'service' : 'db'}:${op}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(m[3]));
  }
  return counts;
}

/** Calls per run between two snapshots, in tenths, most first (what rounds to 0 is left out). */
export function callsPerRun(before: CallCounts, after: CallCounts, runs: number): Record<string, number> {
  const out: [string, number][] = [];
  for (const [k, v] of after) {
    const perRun = Math.round(((v - (before.get(k) ?? 0)) / runs) * 10) / 10;
    if (perRun >= 0.1) out.push([k, perRun]);
  }
  return Object.fromEntries(out.sort((a, b) => b[1] - a[1]));
}

/**
 * "agentrun 52 service, 39 db; bare 50 service, 40 db; differ by (agentrun − bare):
 * service:DescribeWorkflowExecution +2, …" (differences of at least 0.5 per run).
 */
export function compareCalls(a: Record<string, number>, b: Record<string, number>): string {
  const total = (c: Record<string, number>, kind: string) => Math.round(Object.entries(c).filter(([k]) => k.startsWith(`${kind}:`)).reduce((s, [, v]) => s + v, 0));
  const diffs: [string, number][] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = Math.round(((a[k] ?? 0) - (b[k] ?? 0)) * 10) / 10;
    if (Math.abs(d) >= 0.5) diffs.push([k, d]);
  }
  diffs.sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]));
  const differ = diffs.length === 0 ? 'no operation differs by 0.5 or more' : `differ by (agentrun − bare): ${diffs.map(([k, d]) => `${k} ${d > 0 ? '+' : ''}${d}`).join(', ')}`;
  return `agentrun ${total(a, 'service')} service, ${total(a, 'db')} db; bare ${total(b, 'service')} service, ${total(b, 'db')} db; ${differ}`;
}
