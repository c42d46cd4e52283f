/**
 * The API process: parse config, build clients once, check Temporal and Redis,
 * serve HTTP; on SIGTERM/SIGINT stop accepting, close streams, close clients.
 */
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { createApp } from './app.ts';
import { EventHub } from './event-hub.ts';
import { RunsService } from './runs-service.ts';
import { EventLog } from '../infra/event-log.ts';
import { createLogger } from '../infra/logger.ts';
import { checkBucket, checkRedis, checkTemporal, exitOnStartupError, PreflightError, withTimeout } from '../infra/preflight.ts';
import { createRedis } from '../infra/redis.ts';
import { createS3 } from '../infra/s3.ts';
import { loadConfig } from '../shared/config.ts';
import { checkStore, createStore } from '../store/index.ts';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const log = createLogger(config.logLevel, 'agentrun-api');

  const redis = createRedis(config.redis.url, { name: 'agentrun-api' });
  const sub = createRedis(config.redis.url, { offlineQueue: true, name: 'agentrun-api-sub' });
  const store = createStore(config.store);
  const s3 = createS3(config.s3);
  await checkRedis(redis, config.redis.url);
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
  const temporal = new Client({ connection, namespace: config.temporal.namespace });

  const hub = new EventHub(sub, log.child({ component: 'event-hub' }));
  const app = createApp({
    runs: new RunsService({
      temporal, store, s3, bucket: config.s3.bucket, taskQueue: config.temporal.taskQueue, creditReservation: config.credits.runReservation,
      provider: config.llm.provider, limits: config.runs, log: log.child({ component: 'runs' }),
    }),
    hub,
    events: new EventLog(redis, { maxLen: config.redis.streamMaxLen, ttlS: config.redis.streamTtlS }),
    config: config.api,
    log: log.child({ component: 'http' }),
  });

  const server = app.listen(config.api.port, config.api.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (err) => reject(new PreflightError(`cannot listen on ${config.api.host}:${config.api.port}: ${err.message}`)));
  });
  const { port } = server.address() as AddressInfo;
  log.info({ url: `http://${config.api.host}:${port}` }, 'api listening');

  const stop = (signal: string) => {
    log.info({ signal }, 'api stopping');
    server.close();
    server.closeAllConnections(); // SSE clients reconnect elsewhere with Last-Event-ID
    void hub.close()
      .then(() => connection.close())
      .then(() => store.close())
      .finally(() => {
        s3.destroy();
        redis.disconnect();
      });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => exitOnStartupError('api', err));
