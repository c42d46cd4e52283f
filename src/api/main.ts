/**
 * The API process: parse config, build clients once, check Temporal and Redis,
 * serve HTTP; on SIGTERM/SIGINT stop accepting, close streams, close clients.
 */
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { createApp } from './app.ts';
import { OpenStreams } from './open-streams.ts';
import { Authenticator } from './auth.ts';
import { EventHub } from './event-hub.ts';
import { IdempotencyStore } from './idempotency.ts';
import { createApiMetrics, routeTemplate, serveApiMetrics } from './metrics.ts';
import { RateLimiter } from './rate-limit.ts';
import { AccountsService } from '../accounts/index.ts';
import { ToolBreaker } from '../infra/breaker.ts';
import { EventLog } from '../infra/event-log.ts';
import { createLogger } from '../infra/logger.ts';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { checkBucket, checkRedis, checkRedisKeys, checkTemporal, exitOnStartupError, PreflightError, withTimeout } from '../infra/preflight.ts';
import { QueueFacade } from '../infra/queue.ts';
import { createRedis } from '../infra/redis.ts';
import { createS3 } from '../infra/s3.ts';
import { startTracing } from '../infra/tracing.ts';
import { LegacyIngress, QueueService } from '../ingress/index.ts';
import { RunsService } from '../runs/index.ts';
import { taskQueuePollers } from '../runs/pollers.ts';
import { DEFAULT_PRIORITY } from '../runs/model.ts';
import { startRepairLoop } from '../runs/repair.ts';
import { loadConfig } from '../shared/config.ts';
import { checkStore, createStore } from '../store/index.ts';
import { WorkspaceStore } from '../workspace/index.ts';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const log = createLogger(config.logLevel, 'agentrun-api');
  const tracing = await startTracing(config.tracing, 'agentrun-api', log.child({ component: 'tracing' }));

  const redis = createRedis(config.redis.url, { name: 'agentrun-api' });
  const sub = createRedis(config.redis.url, { offlineQueue: true, name: 'agentrun-api-sub' });
  const store = await createStore(config.store, config.credits.defaultLimits);
  const s3 = createS3(config.s3);
  await checkRedis(redis, config.redis.url);
  await checkRedisKeys(redis, config.queue.keyPrefix);
  await checkBucket(s3, config.s3.bucket, config.s3.endpoint);
  await checkRedis(sub, config.redis.url);
  await checkStore(store, config.store);
  let connection: Connection;
  try {
    connection = await withTimeout('temporal connect', 10_000, Connection.connect({ address: config.temporal.address, connectTimeout: '5s' }));
  } catch (err) {
    throw new PreflightError(`Temporal at ${config.temporal.address} is unreachable: ${(err as Error).message.split('\n')[0]} (start it with ./dev up, or set TEMPORAL_ADDRESS)`, { cause: err });
  }
  await checkTemporal(connection, config.temporal.address, config.temporal.namespace);
  // With tracing on, a workflow start is a span of the request's trace, carried to the workflow in its headers
  // (the interceptors' module is loaded only then: a start without tracing does not pay for it).
  const interceptors = tracing
    ? { workflow: [new (await import('@temporalio/interceptors-opentelemetry')).OpenTelemetryWorkflowClientInterceptor({ tracer: tracing.tracer })] }
    : undefined;
  const temporal = new Client({ connection, namespace: config.temporal.namespace, interceptors });

  const events = new EventLog(redis, { maxLen: config.redis.streamMaxLen, ttlS: config.redis.streamTtlS });
  const hub = new EventHub(sub, events, log.child({ component: 'event-hub' }));
  const queue = new QueueFacade(redis, config.queue.keyPrefix);
  const metrics = createApiMetrics({
    queue, countRunsByStatus: () => store.countRunsByStatus(),
    taskQueuePollers: () => taskQueuePollers(connection, config.temporal.namespace, config.temporal.taskQueue),
    sseClients: () => hub.clientCount, sseRecentBytes: () => hub.recentBytes, ingressLastPollMs: () => ingress?.lastPollAt ?? 0, log: log.child({ component: 'metrics' }),
  });
  let ingress: LegacyIngress | undefined;
  const ops = {
    metricsMiddleware: metrics.middleware,
    timeoutMs: config.ops.readyTimeoutMs,
    log: log.child({ component: 'readyz' }),
    checks: {
      temporal: async () => { await connection.workflowService.describeNamespace({ namespace: config.temporal.namespace }); },
      redis: async () => { await redis.ping(); },
      database: async () => { await store.getRun('run_00000000000000000000000000'); },
      s3: async () => { await s3.send(new HeadBucketCommand({ Bucket: config.s3.bucket })); },
      ...(config.queue.consumer ? {
        queue_consumer: async () => {
          const idleS = (Date.now() - (ingress?.lastPollAt ?? 0)) / 1000;
          if (idleS > Math.max(30, (config.queue.pollMs * 20) / 1000)) throw new Error(`no poll for ${Math.round(idleS)} s`);
        },
      } : {}),
    },
  };
  const runs = new RunsService({
    temporal, store, workspace: new WorkspaceStore({ s3, bucket: config.s3.bucket, fileMaxBytes: config.workspace.fileMaxBytes }), taskQueue: config.temporal.taskQueue, creditReservation: config.credits.runReservation,
    provider: config.llm.provider, limits: config.runs, maxActiveRuns: config.api.maxActiveRuns, runLimitRetryAfterS: config.api.runLimitRetryAfterS,
    log: log.child({ component: 'runs' }), queue, events,
  });
  const streams = new OpenStreams();
  const breaker = new ToolBreaker(redis, config.tools.breaker);
  const app = createApp({
    tracing: tracing?.httpServerSpans(routeTemplate),
    streams,
    runs,
    accounts: new AccountsService({ store, maxActiveRuns: config.api.maxActiveRuns, newUserCredits: config.credits.newUserCredits, breaker }),
    breaker,
    hub,
    events,
    config: config.api,
    auth: new Authenticator(config.api.auth),
    rateLimiter: new RateLimiter(redis, config.api.rateLimit, log.child({ component: 'rate-limit' })),
    idempotency: new IdempotencyStore(redis, { ttlS: config.api.idempotencyTtlS }),
    ops,
    queue: new QueueService({ queue, store, log: log.child({ component: 'queue' }), signingSecret: config.queue.signingSecret }),
    log: log.child({ component: 'http' }),
  });

  if (config.queue.consumer) {
    ingress = new LegacyIngress({
      redis, queue, runs, store, log: log.child({ component: 'legacy-ingress' }), pollMs: config.queue.pollMs,
      maxAttempts: config.queue.maxAttempts, defaultPriority: DEFAULT_PRIORITY, onOutcome: metrics.ingress, signingSecret: config.queue.signingSecret,
    });
    await ingress.start();
  }

  const repair = config.api.repair.intervalS > 0
    ? startRepairLoop({ store, temporal, queue, log: log.child({ component: 'run-repair' }) }, config.api.repair)
    : undefined;

  // With API_REUSE_PORT, the other API processes of this host listen on the port too; the kernel spreads connections.
  const server = app.listen({ port: config.api.port, host: config.api.host, reusePort: config.api.reusePort });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (err) => reject(new PreflightError(`cannot listen on ${config.api.host}:${config.api.port}: ${err.message}`)));
  });
  const { port } = server.address() as AddressInfo;
  log.info({ url: `http://${config.api.host}:${port}`, auth: config.api.auth.mode }, 'api listening');
  let metricsServer: Awaited<ReturnType<typeof serveApiMetrics>>;
  try {
    metricsServer = await serveApiMetrics({ ...config.api.metrics, registry: metrics.registry, log: log.child({ component: 'metrics' }) });
  } catch (err) {
    throw new PreflightError(`cannot serve API metrics on ${config.api.metrics.host}:${config.api.metrics.port}: ${(err as Error).message} (set API_METRICS_PORT)`, { cause: err });
  }
  log.info({ metrics: metricsServer.url }, 'api metrics listening');
  if (config.api.auth.mode === 'none') log.warn({ userId: config.api.auth.userId }, 'AUTH_MODE=none: every request acts as DEFAULT_USER_ID');

  /**
   * Drains within API_SHUTDOWN_GRACE_MS: stop accepting, end every event stream with a
   * `: shutting down` comment (clients reconnect elsewhere with Last-Event-ID), let requests
   * in flight finish, then close what is left and the clients. Past the grace, exit anyway.
   */
  const stop = (signal: string) => {
    const graceMs = config.api.shutdownGraceMs;
    log.info({ signal, streams: streams.size, graceMs }, 'api stopping');
    setTimeout(() => {
      log.error({ graceMs }, 'api did not stop within API_SHUTDOWN_GRACE_MS; exiting');
      process.exit(1);
    }, graceMs + 5000).unref();
    repair?.stop();
    metricsServer.server.close();
    const requestsDone = new Promise<void>((resolve) => server.close(() => resolve()));
    streams.drain();
    server.closeIdleConnections();
    const rest = setTimeout(() => server.closeAllConnections(), graceMs);
    rest.unref();
    void requestsDone
      .then(() => { clearTimeout(rest); log.info('api stopped accepting; requests in flight done'); })
      .then(() => ingress?.stop())
      .then(() => repair?.done)
      .then(() => hub.close())
      .then(() => connection.close())
      .then(() => store.close())
      .then(() => tracing?.shutdown())
      .finally(() => {
        s3.destroy();
        redis.disconnect();
      });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => exitOnStartupError('api', err));
