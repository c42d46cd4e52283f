/**
 * The worker's /metrics: its own series (prom-client) followed by the Temporal SDK's
 * (Core's Prometheus exporter, bound to a private loopback port and read on every
 * scrape), so one scrape target serves both.
 */
import type { Server } from 'node:http';
import type { Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import { serveMetrics } from '../infra/metrics-server.ts';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** The worker's own series: process metrics and what it serves. */
export function createWorkerRegistry(info: { taskQueue: string; namespace: string }): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'agentrun_worker_' });
  new Gauge({ name: 'agentrun_worker_info', help: 'The task queue and namespace this worker polls (always 1)', labelNames: ['task_queue', 'namespace'] as const, registers: [registry] })
    .set({ task_queue: info.taskQueue, namespace: info.namespace }, 1);
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
