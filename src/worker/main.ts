/**
 * The worker process: parse config, build clients once, check every dependency,
 * run the Temporal worker, keep `worker:heartbeat` fresh; on SIGTERM/SIGINT the
 * worker drains in-flight work, then clients close in reverse order.
 */
import { fileURLToPath } from 'node:url';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import { createAnthropicProvider } from '../llm/anthropic.ts';
import { EventLog } from '../infra/event-log.ts';
import { createLogger } from '../infra/logger.ts';
import { checkBucket, checkRedis, checkTemporal, exitOnStartupError, PreflightError, withTimeout } from '../infra/preflight.ts';
import { createRedis } from '../infra/redis.ts';
import { createS3 } from '../infra/s3.ts';
import { loadConfig } from '../shared/config.ts';
import { checkStore, createStore } from '../store/index.ts';
import { redisKeys } from '../shared/names.ts';
import { sdkLogger } from './temporal-logger.ts';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const log = createLogger(config.logLevel, 'agentrun-worker');
  Runtime.install({ logger: sdkLogger(log.child({ component: 'temporal' })), shutdownSignals: ['SIGINT', 'SIGTERM'] });

  const redis = createRedis(config.redis.url, { offlineQueue: true, name: 'agentrun-worker' });
  const s3 = createS3(config.s3);
  const store = createStore(config.store);
  let connection: NativeConnection | undefined;
  try {
    await checkRedis(redis, config.redis.url);
    await checkBucket(s3, config.s3.bucket, config.s3.endpoint);
    await checkStore(store, config.store);
    try {
      connection = await withTimeout('temporal connect', 10_000, NativeConnection.connect({ address: config.temporal.address }));
    } catch (err) {
      throw new PreflightError(`Temporal at ${config.temporal.address} is unreachable: ${(err as Error).message.split('\n')[0]} (start it with ./dev up, or set TEMPORAL_ADDRESS)`, { cause: err });
    }
    await checkTemporal(connection, config.temporal.address, config.temporal.namespace);

    const anthropic = config.llm.anthropic ? createAnthropicProvider(config.llm.anthropic) : undefined;
    const activities = createActivities({
      s3, bucket: config.s3.bucket, store, tools: config.tools, log: log.child({ component: 'activities' }),
      events: new EventLog(redis, { maxLen: config.redis.streamMaxLen, ttlS: config.redis.streamTtlS }),
    }, { anthropic });
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)),
      activities,
      shutdownGraceTime: config.worker.shutdownGraceMs,
    });

    const ttl = config.worker.heartbeatTtlS;
    const beat = () => redis.set(redisKeys.workerHeartbeat, JSON.stringify({
      pid: process.pid, taskQueue: config.temporal.taskQueue, at: new Date().toISOString(),
    }), 'EX', ttl).catch((err: unknown) => log.warn({ err }, 'worker heartbeat failed'));
    await beat();
    const heartbeat = setInterval(() => void beat(), Math.max(1000, (ttl * 1000) / 3));

    log.info({ taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace, address: config.temporal.address }, 'worker started');
    try {
      await worker.run(); // resolves after SIGTERM/SIGINT once in-flight work drained
    } finally {
      clearInterval(heartbeat);
    }
    log.info('worker stopped');
  } finally {
    await connection?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    s3.destroy();
    redis.disconnect();
  }
}

main().catch((err: unknown) => exitOnStartupError('worker', err));
