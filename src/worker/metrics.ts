/**
 * The worker's /metrics: its own series (prom-client: process metrics, whether it polls,
 * whether Redis answers) followed by the Temporal SDK's (Core's Prometheus exporter,
 * bound to a private loopback port and read on every scrape), so one scrape target
 * serves both; and its readiness.
 */
import type { Server } from 'node:http';
import type { Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { Redis } from '../infra/redis.ts';
import { serveMetrics } from '../infra/metrics-server.ts';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** What the worker's own gauges read at scrape time (absent: the gauge is not served). */
export interface WorkerProbes {
  /** Its readiness (workerReadiness): `agentrun_worker_polling`. */
  readiness?: () => { ready: boolean };
  /** Its Redis connection: `agentrun_worker_redis_up`. */
  redis?: Pick<Redis, 'status' | 'ping'>;
}

/** Longest a scrape waits for Redis's PONG before reporting it down. */
const REDIS_PING_TIMEOUT_MS = 2000;

/**
 * 1 when the connection is ready and answers PING within the timeout, else 0. Not even
 * tried while ioredis is (re)connecting: the command would wait in its offline queue.
 */
export async function redisUp(redis: Pick<Redis, 'status' | 'ping'>, timeoutMs = REDIS_PING_TIMEOUT_MS): Promise<0 | 1> {
  if (redis.status !== 'ready') return 0;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
  try {
    return (await Promise.race([redis.ping(), timeout])) === 'PONG' ? 1 : 0;
  } catch {
    return 0;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The worker's own series: process metrics, what it serves, and the gauges the alerts
 * of k8s/base/prometheus-rule.yaml read (whether it polls, whether Redis answers).
 */
export function createWorkerRegistry(info: { taskQueue: string; namespace: string }, probes: WorkerProbes = {}): Registry {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: 'agentrun_worker_' });
  new Gauge({ name: 'agentrun_worker_info', help: 'The task queue and namespace this worker polls (always 1)', labelNames: ['task_queue', 'namespace'] as const, registers })
    .set({ task_queue: info.taskQueue, namespace: info.namespace }, 1);
  const { readiness, redis } = probes;
  if (readiness) {
    new Gauge({
      name: 'agentrun_worker_polling', help: '1 while this worker runs and both its workflow and activity pollers poll the task queue (its /readyz), else 0', registers,
      collect() { this.set(readiness().ready ? 1 : 0); },
    });
  }
  if (redis) {
    new Gauge({
      name: 'agentrun_worker_redis_up', help: `1 when this worker's Redis connection answers PING within ${REDIS_PING_TIMEOUT_MS} ms at scrape time, else 0`, registers,
      async collect() { this.set(await redisUp(redis)); },
    });
  }
  return registry;
}

/** Serves GET /metrics on host:port; resolves with the server once listening. */
export function serveWorkerMetrics(opts: { host: string; port: number; registry: Registry; temporalUrl: string; log: Logger; health?: () => { ready: boolean; detail: Record<string, unknown> } }): Promise<{ server: Server; url: string }> {
  // Ours, then the Temporal SDK's series (Core's exporter on a private loopback port).
  const scrape = async () => {
    const own = await opts.registry.metrics();
    let sdk = '';
    try {
      const r = await fetch(opts.temporalUrl, { signal: AbortSignal.timeout(2000) });
      sdk = await r.text();
    } catch (err) {
      opts.log.warn({ err: (err as Error).message }, 'temporal SDK metrics unavailable');
    }
    return `${own.trimEnd()}\n${sdk}`;
  };
  return serveMetrics({ host: opts.host, port: opts.port, contentType: opts.registry.contentType, scrape, log: opts.log, health: opts.health });
}

/**
 * Ready means doing its job: the worker runs and both its workflow and activity pollers
 * poll the task queue (the earlier design's worker ran for days without dequeuing).
 * Not ready while starting, draining or after a poller failed: the probe takes it out.
 */
export function workerReadiness(worker: Pick<Worker, 'getStatus'>): { ready: boolean; detail: Record<string, unknown> } {
  const st = worker.getStatus();
  const polling = st.workflowPollerState === 'POLLING' && st.activityPollerState === 'POLLING';
  return {
    ready: st.runState === 'RUNNING' && polling,
    detail: { runState: st.runState, workflowPoller: st.workflowPollerState, activityPoller: st.activityPollerState, activitiesInFlight: st.numInFlightActivities },
  };
}
