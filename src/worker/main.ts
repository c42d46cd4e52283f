/**
 * The worker process: parse config, build clients once, check every dependency,
 * run the Temporal worker, keep `worker:heartbeat` fresh; on SIGTERM/SIGINT the
 * worker drains in-flight work, then clients close in reverse order.
 */
import type { Server } from 'node:http';
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import { ToolBreaker } from '../infra/breaker.ts';
import { EventLog } from '../infra/event-log.ts';
import { createLogger } from '../infra/logger.ts';
import { checkBucket, checkRedis, checkRedisKeys, checkTemporal, exitOnStartupError, PreflightError, withTimeout } from '../infra/preflight.ts';
import { QueueFacade } from '../infra/queue.ts';
import { createRedis } from '../infra/redis.ts';
import { createS3 } from '../infra/s3.ts';
import { startTracing } from '../infra/tracing.ts';
import { createExecutor } from '../sandbox/index.ts';
import { loadConfig } from '../shared/config.ts';
import { checkStore, createStore } from '../store/index.ts';
import { redisKeys } from '../shared/names.ts';
import { WorkspaceStore } from '../workspace/store.ts';
import { freeLoopbackPort } from '../infra/free-port.ts';
import { createWorkerRegistry, serveWorkerMetrics, workerReadiness } from './metrics.ts';
import { sdkLogger } from './temporal-logger.ts';
import { ensureRetentionSchedule } from './retention-schedule.ts';
import { bundleBuildId, loadWorkflowBundle } from './bundle.ts';
import { workerTracingOptions } from './tracing.ts';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const log = createLogger(config.logLevel, 'agentrun-worker');
  const tracing = await startTracing(config.tracing, 'agentrun-worker', log.child({ component: 'tracing' }));
  // Core's Prometheus exporter listens on a private loopback port; /metrics on WORKER_METRICS_PORT serves it with ours.
  const sdkMetricsPort = await freeLoopbackPort();
  Runtime.install({
    logger: sdkLogger(log.child({ component: 'temporal' })), shutdownSignals: ['SIGINT', 'SIGTERM'],
    telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkMetricsPort}`, countersTotalSuffix: true, useSecondsForDurations: true } } },
  });

  const redis = createRedis(config.redis.url, { offlineQueue: true, name: 'agentrun-worker' });
  const s3 = createS3(config.s3);
  const workspace = new WorkspaceStore({ s3, bucket: config.s3.bucket, fileMaxBytes: config.workspace.fileMaxBytes });
  const store = await createStore(config.store, config.credits.defaultLimits);
  let connection: NativeConnection | undefined;
  let metrics: { server: Server; url: string } | undefined;
  try {
    await checkRedis(redis, config.redis.url);
    await checkRedisKeys(redis, config.queue.keyPrefix);
    await checkBucket(s3, config.s3.bucket, config.s3.endpoint);
    await checkStore(store, config.store);
    try {
      connection = await withTimeout('temporal connect', 10_000, NativeConnection.connect({ address: config.temporal.address }));
    } catch (err) {
      throw new PreflightError(`Temporal at ${config.temporal.address} is unreachable: ${(err as Error).message.split('\n')[0]} (start it with ./dev up, or set TEMPORAL_ADDRESS)`, { cause: err });
    }
    await checkTemporal(connection, config.temporal.address, config.temporal.namespace);
    const sandbox = await createExecutor(config, workspace, log.child({ component: 'sandbox' }));
    if (!sandbox.browser) log.info({ reason: sandbox.browserAbsent }, 'the browser tool is not offered');

    // Anthropic's SDK (about 250 modules, 80 ms of a start's CPU) is loaded only by a worker configured for it.
    const anthropic = config.llm.anthropic ? (await import('../llm/anthropic.ts')).createAnthropicProvider({ ...config.llm.anthropic, search: config.tools.search !== undefined, browser: sandbox.browser !== undefined, mcpTools: sandbox.mcp?.tools() }) : undefined;
    const activities = createActivities({
      workspace, store, tools: config.tools, log: log.child({ component: 'activities' }),
      sandbox,
      events: new EventLog(redis, { maxLen: config.redis.streamMaxLen, ttlS: config.redis.streamTtlS }),
      queue: new QueueFacade(redis, config.queue.keyPrefix),
      breaker: new ToolBreaker(redis, config.tools.breaker),
    }, { anthropic });
    // The app image carries a bundle built at image build time (bundle.ts); else bundle src/workflows now.
    const code = await loadWorkflowBundle(config.worker.workflowBundlePath);
    const version = { deploymentName: config.worker.deploymentName, buildId: config.worker.buildId ?? bundleBuildId(code) };
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      workflowBundle: { code },
      // Each workflow task completed names this build; Worker Versioning stays off (docs/deploy.md, "Upgrading workflow code").
      workerDeploymentOptions: { useWorkerVersioning: false, version },
      activities,
      ...(await workerTracingOptions(tracing)),
      shutdownGraceTime: config.worker.shutdownGraceMs,
      // Bounds what one worker holds at once (a tenant's many large steps wait in the task queue instead).
      maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentActivities,
      maxConcurrentLocalActivityExecutions: config.worker.maxConcurrentLocalActivities,
      maxConcurrentWorkflowTaskExecutions: config.worker.maxConcurrentWorkflowTasks,
      ...(config.worker.maxCachedWorkflows === undefined ? {} : { maxCachedWorkflows: config.worker.maxCachedWorkflows }),
      // A step's heartbeats reach Temporal at least this often, and a cancellation reaches the step with the answer.
      maxHeartbeatThrottleInterval: config.worker.heartbeatThrottleMs,
      workflowThreadPoolSize: config.worker.workflowThreads,
    });

    // The workspace retention policy runs as a Temporal Schedule of this task queue (removed when it is off).
    await ensureRetentionSchedule(new Client({ connection, namespace: config.temporal.namespace }), config.temporal.taskQueue, config.workspace.retentionDays)
      .then((outcome) => log.info({ outcome, retentionDays: config.workspace.retentionDays }, 'workspace retention schedule'))
      .catch((err: unknown) => log.warn({ err }, 'could not set up the workspace retention schedule'));

    try {
      metrics = await serveWorkerMetrics({
        host: config.ops.workerMetricsHost, port: config.ops.workerMetricsPort, temporalUrl: `http://127.0.0.1:${sdkMetricsPort}/metrics`,
        registry: createWorkerRegistry({ taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace }, { readiness: () => workerReadiness(worker), redis }), log: log.child({ component: 'metrics' }),
        health: () => workerReadiness(worker),
      });
    } catch (err) {
      throw new PreflightError(`cannot serve worker metrics on ${config.ops.workerMetricsHost}:${config.ops.workerMetricsPort}: ${(err as Error).message} (set WORKER_METRICS_PORT)`, { cause: err });
    }
    log.info({ url: metrics.url }, 'worker metrics listening');

    const ttl = config.worker.heartbeatTtlS;
    const beat = () => redis.set(redisKeys.workerHeartbeat, JSON.stringify({
      pid: process.pid, taskQueue: config.temporal.taskQueue, at: new Date().toISOString(),
    }), 'EX', ttl).catch((err: unknown) => log.warn({ err }, 'worker heartbeat failed'));
    await beat();
    const heartbeat = setInterval(() => void beat(), Math.max(1000, (ttl * 1000) / 3));

    log.info({ ...version, sandbox: config.sandbox.kind, taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace, address: config.temporal.address, maxConcurrentActivities: config.worker.maxConcurrentActivities }, 'worker started');
    try {
      await worker.run(); // resolves after SIGTERM/SIGINT once in-flight work drained
    } finally {
      clearInterval(heartbeat);
    }
    log.info('worker stopped');
  } finally {
    metrics?.server.close();
    await connection?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    s3.destroy();
    redis.disconnect();
    await tracing?.shutdown(); // last: the workflow spans of the final activations came through the sink
  }
}

main().catch((err: unknown) => exitOnStartupError('worker', err));
