/**
 * The API's Prometheus metrics (prom-client, one registry per process): HTTP latency
 * by route template, runs by status (the database), SSE clients, queue depths and
 * ages, the task queue's pollers as Temporal sees them, legacy ingress outcomes. Values read from other systems are collected at
 * scrape time; a failed read keeps the previous value and is logged.
 */
import type { Server } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { serveMetrics } from '../infra/metrics-server.ts';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { IngressOutcome } from '../ingress/index.ts';
import type { QueueFacade, QueueStats } from '../infra/queue.ts';
import { QUEUE_NAMES } from '../shared/queue.ts';
import { RUN_STATUSES } from '../shared/run.ts';
import type { RunStatus } from '../shared/run.ts';

export interface ApiMetricsDeps {
  queue?: QueueFacade;
  countRunsByStatus: () => Promise<Partial<Record<RunStatus, number>>>;
  sseClients: () => number;
  /** Bytes of recent events the hub keeps for clients that fell behind. */
  sseRecentBytes?: () => number;
  /** The pollers Temporal sees on the task queue runs are started on (DescribeTaskQueue). */
  taskQueuePollers?: () => Promise<{ workflow: number; activity: number }>;
  /** When the legacy ingress consumer last polled (ms since epoch; 0 when it does not run). */
  ingressLastPollMs?: () => number;
  log: Logger;
}

export interface ApiMetrics {
  registry: Registry;
  middleware: RequestHandler;
  ingress: (outcome: IngressOutcome) => void;
}

/** `/v1/runs/:id` rather than the raw path; `unmatched` for requests no route took (bounded cardinality). */
export function routeTemplate(req: Parameters<RequestHandler>[0]): string {
  const route = (req as { route?: { path?: unknown } }).route;
  if (!route || typeof route.path !== 'string') return 'unmatched';
  const base = req.baseUrl ?? '';
  // A router's own root (`/v1/queue` + `/`) is named without the trailing slash.
  return (route.path === '/' && base ? base : `${base}${route.path}`) || '/';
}

export function createApiMetrics(deps: ApiMetricsDeps): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'agentrun_api_' });
  const registers = [registry];

  const http = new Histogram({
    name: 'agentrun_http_request_duration_seconds', help: 'HTTP request latency by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
  });
  new Gauge({
    name: 'agentrun_task_queue_pollers', help: 'Pollers Temporal sees on the task queue this API starts runs on, by task type (DescribeTaskQueue); 0 means no worker takes its runs',
    labelNames: ['type'] as const, registers,
    async collect() {
      if (!deps.taskQueuePollers) return;
      try {
        const p = await deps.taskQueuePollers();
        this.set({ type: 'workflow' }, p.workflow);
        this.set({ type: 'activity' }, p.activity);
      } catch (err) {
        deps.log.warn({ err: (err as Error).message }, 'could not describe the task queue; pollers keep their last value');
      }
    },
  });
  new Gauge({ name: 'agentrun_sse_clients', help: 'SSE clients following a run on this API process', registers, collect() { this.set(deps.sseClients()); } });
  new Gauge({ name: 'agentrun_sse_recent_bytes', help: 'Bytes of recent run events kept in memory for SSE clients that fell behind', registers, collect() { this.set(deps.sseRecentBytes?.() ?? 0); } });
  new Gauge({
    name: 'agentrun_runs', help: 'Run records by status (database)', labelNames: ['status'] as const, registers,
    async collect() {
      try {
        const counts = await deps.countRunsByStatus();
        for (const s of RUN_STATUSES) this.set({ status: s }, counts[s] ?? 0);
      } catch (err) {
        deps.log.warn({ err: (err as Error).message }, 'metrics: runs by status unavailable');
      }
    },
  });

  // One Redis round trip per scrape for both queue gauges.
  let cached: { at: number; stats: Promise<QueueStats | undefined> } | undefined;
  const queueStats = () => {
    if (!deps.queue) return Promise.resolve(undefined);
    if (!cached || Date.now() - cached.at > 1000) {
      cached = { at: Date.now(), stats: deps.queue.stats().catch((err: unknown) => { deps.log.warn({ err: (err as Error).message }, 'metrics: queue stats unavailable'); return undefined; }) };
    }
    return cached.stats;
  };
  new Gauge({
    name: 'agentrun_queue_depth', help: 'Entries in each jobs:* list', labelNames: ['queue'] as const, registers,
    async collect() {
      const s = await queueStats();
      if (s) for (const q of QUEUE_NAMES) this.set({ queue: q }, s.queues[q].count);
    },
  });
  new Gauge({
    name: 'agentrun_queue_oldest_age_seconds', help: 'Age of the oldest entry of each jobs:* list (0 when empty)', labelNames: ['queue'] as const, registers,
    async collect() {
      const s = await queueStats();
      if (s) for (const q of QUEUE_NAMES) this.set({ queue: q }, s.queues[q].oldestAgeS ?? 0);
    },
  });
  const ingress = new Counter({
    name: 'agentrun_queue_ingress_total', help: 'Legacy ingress entries handled, by outcome', labelNames: ['outcome'] as const, registers,
  });
  new Gauge({
    name: 'agentrun_queue_consumer_last_poll_timestamp_seconds', help: 'When the legacy ingress consumer last polled (0: not running)', registers,
    collect() { this.set((deps.ingressLastPollMs?.() ?? 0) / 1000); },
  });

  const middleware: RequestHandler = (req, res, next) => {
    const end = http.startTimer();
    res.once('close', () => end({ method: req.method, route: routeTemplate(req), status: String(res.statusCode) }));
    next();
  };
  return {
    registry, middleware,
    ingress: (outcome) => ingress.inc({ outcome }),
  };
}

/**
 * Serves GET /metrics on a listener of its own (API_METRICS_HOST:API_METRICS_PORT, loopback by
 * default), so the public API port never exposes run counts, queue depths or process details.
 */
export function serveApiMetrics(opts: { host: string; port: number; registry: Registry; log: Logger }): Promise<{ server: Server; url: string }> {
  return serveMetrics({ host: opts.host, port: opts.port, contentType: opts.registry.contentType, scrape: () => opts.registry.metrics(), log: opts.log });
}
