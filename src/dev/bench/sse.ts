/**
 * P3 and P4, the event stream under load. Events are appended the way the worker appends
 * them (EventLog.append: stream entry + pub/sub announcement) to a run created through
 * the API and parked on approval, each carrying its sequence number; publish times stay
 * in this process, so a client's latency is its receive time minus the append's start.
 * P3: `clients` SSE clients on one run while `events` are published at `rate`/s; each
 * client must get every event once, in order; the baseline is a raw ioredis subscriber
 * on the run's channel in this same process, reading the same events.
 * P4: a client reconnecting with Last-Event-ID `backlog` events back, timed until it has
 * them all, against one XRANGE of the same entries, alternating.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EventLog } from '../../infra/event-log.ts';
import { createRedis, type Redis } from '../../infra/redis.ts';
import type { Config } from '../../shared/config.ts';
import { redisKeys } from '../../shared/names.ts';
import type { RunEvent } from '../../shared/run.ts';
import { waitFor } from '../proc.ts';
import { cancelAll, startRun, waitForStatus, type BenchRig } from './api.ts';
import { follow } from './sse-client.ts';
import { SeqTracker, countSeqs } from './seq.ts';
import { figure, quantile, type Figure } from './stats.ts';

const benchEvent = (tag: string, seq: number): RunEvent => ({ key: `${tag}:${seq}`, type: 'log', data: { stream: 'bench', seq, text: `bench event ${seq}` } });

/** A run parked on approval (no events of its own while the bench appends), and the log to append to. */
async function parkedRuns(rig: BenchRig, n: number): Promise<string[]> {
  const ids = await Promise.all(Array.from({ length: n }, () => startRun(rig.base, { prompt: 'write_file bench.txt parked', requireApproval: true })));
  await waitForStatus(rig.base, ids, ['awaiting_approval'], 120_000);
  return ids;
}

export async function sseRows(rig: BenchRig, config: Config, groups: { p3: boolean; p4: boolean }): Promise<{ figures: Figure[]; samples: Record<string, unknown> }> {
  const redis = createRedis(config.redis.url, { offlineQueue: true, name: 'bench-events' });
  const sub = createRedis(config.redis.url, { offlineQueue: true, name: 'bench-raw-subscriber' });
  const log = new EventLog(redis, { maxLen: config.redis.streamMaxLen, ttlS: config.redis.streamTtlS });
  const figures: Figure[] = [];
  const samples: Record<string, unknown> = {};
  let runs: string[] = [];
  try {
    runs = await parkedRuns(rig, Number(groups.p3) + Number(groups.p4));
    if (groups.p3) {
      const r = await fanout(rig, log, sub, runs[0]!);
      samples.P3 = r.summary;
      const what = `${rig.p.clients} SSE clients, ${rig.p.events} events at ${rig.p.rate}/s, ${rig.p.apis} API process${rig.p.apis > 1 ? 'es' : ''}`;
      figures.push(
        figure({ id: 'P3 delivered', what: `delivered/published, ${what} (${r.summary.losslessClients}/${rig.p.clients} clients lossless, ${r.summary.reconnects} reconnects)`, unit: '', agentrun: r.delivered, baseline: r.rawDelivered, baselineWhat: 'raw ioredis subscriber', higherIsBetter: true }),
        figure({ id: 'P3 p50', what: `publish → client, ${what}`, unit: 'ms', agentrun: quantile(r.lat, 0.5), baseline: quantile(r.rawLat, 0.5), baselineWhat: 'raw ioredis subscriber, same events', higherIsBetter: false }),
        figure({ id: 'P3 p99', what: `publish → client, ${what}`, unit: 'ms', agentrun: quantile(r.lat, 0.99), baseline: quantile(r.rawLat, 0.99), baselineWhat: 'raw ioredis subscriber, same events', higherIsBetter: false }),
        // The API's fan-out capacity: below clients × rate, deliveries queue and the latencies above grow with the run.
        figure({ id: 'P3 rate', what: `deliveries/s, first publish → last delivery (offered: ${rig.p.clients * rig.p.rate}/s)`, unit: '/s', agentrun: r.summary.deliveriesPerS, baseline: Number.NaN, baselineWhat: '', higherIsBetter: true }),
      );
    }
    if (groups.p4) {
      const r = await reconnect(rig, log, redis, runs.at(-1)!);
      samples.P4 = r;
      const what = `reconnect with Last-Event-ID ${rig.p.backlog} events back → caught up`;
      figures.push(
        figure({ id: 'P4 p50', what, unit: 'ms', agentrun: quantile(r.sse, 0.5), baseline: quantile(r.xrange, 0.5), baselineWhat: 'one XRANGE of the same entries', higherIsBetter: false }),
        figure({ id: 'P4 p99', what, unit: 'ms', agentrun: quantile(r.sse, 0.99), baseline: quantile(r.xrange, 0.99), baselineWhat: 'one XRANGE of the same entries', higherIsBetter: false }),
      );
    }
  } finally {
    await cancelAll(rig.base, runs).catch((err: Error) => rig.say(`  (cancelling the parked runs: ${err.message})`));
    redis.disconnect();
    sub.disconnect();
  }
  return { figures, samples };
}

/** P3: the clients and the raw subscriber on one run while the events are published at the rate. */
async function fanout(rig: BenchRig, log: EventLog, sub: Redis, runId: string) {
  const { clients, events, rate } = rig.p;
  const tag = `${rig.tag}-p3`;
  const publishedAt = new Float64Array(events).fill(Number.NaN);
  const lat = new Float64Array(clients * events);
  let latN = 0;
  const rawLat: number[] = [];
  const raw = new SeqTracker(events);
  await sub.subscribe(redisKeys.logsChannel(runId));
  sub.on('message', (_channel: string, message: string) => {
    const now = performance.now();
    countSeqs(message, (seq) => { if (raw.see(seq)) rawLat.push(now - publishedAt[seq]!); });
  });
  const abort = new AbortController();
  let open = 0;
  const trackers = Array.from({ length: clients }, () => new SeqTracker(events));
  const url = `${rig.base}/v1/runs/${runId}/events`;
  const done: Promise<number>[] = [];
  rig.say(`  P3: connecting ${clients} SSE clients`);
  for (let i = 0; i < clients; i += 1) {
    const t = trackers[i]!;
    done.push(follow(url, undefined, abort.signal, () => { open += 1; }, (text) => {
      const now = performance.now();
      countSeqs(text, (seq) => { if (t.see(seq)) lat[latN++] = now - publishedAt[seq]!; });
    }));
    if (i % 50 === 49) await waitFor(`${i + 1} SSE clients to connect`, 120_000, () => open === i + 1);
  }
  const failed: Error[] = [];
  let closed = 0;
  let reconnects = 0;
  const span = { t0: 0, last: 0 };
  for (const d of done) void d.then((n) => { reconnects += n; }, (err: Error) => { failed.push(err); }).finally(() => { closed += 1; });
  try {
    await waitFor(`${clients} SSE clients to connect`, 120_000, () => open === clients || failed.length > 0);
    if (failed.length) throw failed[0]!;
    rig.say(`  P3: publishing ${events} events at ${rate}/s`);
    span.t0 = performance.now();
    for (let seq = 0; seq < events; seq += 1) {
      const due = span.t0 + (seq * 1000) / rate;
      const ahead = due - performance.now();
      if (ahead > 1) await sleep(ahead); // the publish schedule, not a wait for a condition
      publishedAt[seq] = performance.now();
      await log.append(runId, [benchEvent(tag, seq)]);
    }
    await log.append(runId, [{ key: `${tag}:end`, type: 'end', data: { status: 'bench' } }]);
    await waitFor('every SSE client to reach the end event', 900_000, () => trackers.every((t) => t.count === events) || failed.length > 0);
    span.last = performance.now();
    rig.say(`  P3: ${clients * events} deliveries in ${((span.last - span.t0) / 1000).toFixed(1)} s (${Math.round((clients * events) / ((span.last - span.t0) / 1000))}/s)`);
    await waitFor('the raw subscriber to see every event', 60_000, () => raw.count === events);
    await waitFor('the SSE responses to end after the `end` event', 60_000, () => closed === clients);
  } finally {
    abort.abort();
    await sub.unsubscribe(redisKeys.logsChannel(runId)).catch(() => undefined);
    sub.removeAllListeners('message');
  }
  const delivered = trackers.reduce((n, t) => n + t.count, 0);
  const losslessClients = trackers.filter((t) => t.lossless()).length;
  const latencies = Array.from(lat.subarray(0, latN).sort()); // a typed sort first: quantile() re-sorts millions of samples fast when sorted
  return {
    lat: latencies, rawLat, delivered: delivered / (clients * events), rawDelivered: raw.count / events,
    summary: { clients, events, rate, delivered, published: events, losslessClients, duplicatesOrGaps: trackers.reduce((n, t) => n + t.disorder, 0), failedClients: failed.length, reconnects, deliveriesPerS: (clients * events) / ((span.last - span.t0) / 1000) },
  };
}

/** P4: `backlog` events appended in pages, then alternating SSE reconnects and XRANGEs from before them. */
async function reconnect(rig: BenchRig, log: EventLog, redis: Redis, runId: string) {
  const { backlog, rounds, samples } = rig.p;
  const tag = `${rig.tag}-p4`;
  const key = redisKeys.events(runId);
  const before = (await redis.xrevrange(key, '+', '-', 'COUNT', 1))[0]?.[0];
  if (!before) throw new Error(`run ${runId} has no events to reconnect after`);
  for (let seq = 0; seq < backlog; seq += 500) {
    await log.append(runId, Array.from({ length: Math.min(500, backlog - seq) }, (_, i) => benchEvent(tag, seq + i)));
  }
  const sse: number[] = [];
  const xrange: number[] = [];
  const viaSse = async () => {
    const abort = new AbortController();
    const t = new SeqTracker(backlog);
    const t0 = performance.now();
    let caughtUp = 0;
    await follow(`${rig.base}/v1/runs/${runId}/events`, before, abort.signal, () => undefined, (text) => {
      countSeqs(text, (seq) => t.see(seq));
      if (t.count === backlog && !caughtUp) {
        caughtUp = performance.now() - t0;
        abort.abort();
      }
    });
    if (!t.lossless()) throw new Error(`P4: the reconnecting client got ${t.count} of ${backlog} events (${t.disorder} out of order)`);
    sse.push(caughtUp);
  };
  const viaXrange = async () => {
    const t0 = performance.now();
    const rows = await redis.xrange(key, `(${before}`, '+');
    xrange.push(performance.now() - t0);
    if (rows.length < backlog) throw new Error(`P4: XRANGE returned ${rows.length} of ${backlog} entries`);
  };
  await viaSse(); // warm-up, not counted
  sse.length = 0;
  for (let r = 0; r < rounds; r += 1) {
    for (let i = 0; i < samples; i += 1) {
      if ((r + i) % 2 === 0) { await viaSse(); await viaXrange(); } else { await viaXrange(); await viaSse(); }
    }
  }
  return { backlog, sse, xrange };
}
