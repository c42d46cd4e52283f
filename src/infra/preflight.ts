/**
 * Start-up checks. A process that cannot do its job refuses to start with one
 * line naming what is wrong and how to fix it: never a silent idle loop.
 */
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import { redisKeys, SEARCH_ATTRIBUTES } from '../shared/names.ts';
import { lastRedisError, redactUrl } from './redis.ts';

/** Thrown by a failed start-up check; `message` is the one line to print. */
export class PreflightError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PreflightError';
  }
}

function reason(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string; details?: string } | undefined;
  const text = e?.details || e?.message || String(err);
  return (e?.code && !text.includes(e.code) ? `${e.code} ${text}` : text).split('\n')[0]!.slice(0, 300);
}

export async function withTimeout<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function checkRedis(redis: Redis, url: string, timeoutMs = 5000): Promise<void> {
  try {
    if (redis.status === 'wait') await withTimeout('redis connect', timeoutMs, redis.connect());
    const pong = await withTimeout('redis ping', timeoutMs, redis.ping());
    if (pong !== 'PONG') throw new Error(`unexpected PING reply ${String(pong)}`);
  } catch (err) {
    const underlying = lastRedisError(redis) ?? err;
    throw new PreflightError(`Redis at ${redactUrl(url)} is unreachable: ${reason(underlying)} (start it with ./dev up, or set REDIS_URL)`, { cause: err });
  }
}

/**
 * The Redis user may use the keys this process needs: the run streams and the queue
 * facade's lists under QUEUE_KEY_PREFIX. An ACL that does not cover them would refuse
 * every status move at run time (NOPERM) and leave runs hanging; here it is one line.
 * So would one that refuses EVALSHA, by which every script runs.
 */
export async function checkRedisKeys(redis: Redis, queuePrefix: string, timeoutMs = 5000): Promise<void> {
  const probes: [string, () => Promise<unknown>][] = [
    [`${queuePrefix}pending`, () => redis.llen(`${queuePrefix}pending`)],
    [redisKeys.events('run_preflight'), () => redis.xrange(redisKeys.events('run_preflight'), '-', '+', 'COUNT', 1)],
  ];
  for (const [key, probe] of probes) {
    try {
      await withTimeout('redis key check', timeoutMs, probe());
    } catch (err) {
      const text = reason(err);
      if (!/NOPERM/i.test(text)) throw new PreflightError(`Redis cannot be used: ${text}`, { cause: err });
      throw new PreflightError(`Redis refuses this process's keys: ${text} (the Redis user's ACL must allow ~${key.replace(/[^:]*$/, '*')}; see README "Redis is a transport, never an authority", or set QUEUE_KEY_PREFIX)`, { cause: err });
    }
  }
  // Scripts run by hash (LuaScript): an unknown hash answers NOSCRIPT; an ACL without +evalsha, NOPERM.
  try {
    await withTimeout('redis script check', timeoutMs, redis.evalsha('0'.repeat(40), 0));
  } catch (err) {
    const text = reason(err);
    if (/NOPERM/i.test(text)) throw new PreflightError(`Redis refuses EVALSHA: ${text} (the Redis user's ACL must allow +evalsha as well as +eval; see README "Redis is a transport, never an authority")`, { cause: err });
    if (!/NOSCRIPT/i.test(text)) throw new PreflightError(`Redis cannot be used: ${text}`, { cause: err });
  }
}

export async function checkBucket(s3: S3Client, bucket: string, endpoint: string | undefined, timeoutMs = 5000): Promise<void> {
  const where = endpoint ?? 'AWS S3';
  try {
    await withTimeout('s3 head-bucket', timeoutMs, s3.send(new HeadBucketCommand({ Bucket: bucket })));
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404) throw new PreflightError(`S3 bucket ${bucket} does not exist at ${where} (create it, or set S3_BUCKET)`, { cause: err });
    if (status === 403 || status === 401) throw new PreflightError(`S3 at ${where} rejected the credentials for bucket ${bucket} (check S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY)`, { cause: err });
    throw new PreflightError(`S3 at ${where} is unreachable: ${reason(err)} (start it with ./dev up, or set S3_ENDPOINT)`, { cause: err });
  }
}

/** The subset of Temporal's gRPC services the checks use (client Connection and worker NativeConnection both fit). */
export interface TemporalServices {
  workflowService: { describeNamespace(req: { namespace: string }): Promise<unknown> };
  operatorService: {
    listSearchAttributes(req: { namespace: string }): Promise<{ customAttributes?: Record<string, unknown> | null }>;
  };
}

export async function checkTemporal(conn: TemporalServices, address: string, namespace: string, timeoutMs = 10_000): Promise<void> {
  try {
    await withTimeout('temporal describe-namespace', timeoutMs, conn.workflowService.describeNamespace({ namespace }));
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (code === 5) throw new PreflightError(`Temporal namespace ${namespace} does not exist at ${address} (create it, or set TEMPORAL_NAMESPACE)`, { cause: err });
    throw new PreflightError(`Temporal at ${address} is unreachable: ${reason(err)} (start it with ./dev up, or set TEMPORAL_ADDRESS)`, { cause: err });
  }
  const { customAttributes } = await withTimeout('temporal list-search-attributes', timeoutMs,
    conn.operatorService.listSearchAttributes({ namespace }));
  const missing = Object.keys(SEARCH_ATTRIBUTES).filter((name) => !customAttributes || !(name in customAttributes));
  if (missing.length > 0) {
    const create = missing.map((n) => `--name ${n} --type ${SEARCH_ATTRIBUTES[n as keyof typeof SEARCH_ATTRIBUTES]}`).join(' ');
    throw new PreflightError(`Temporal namespace ${namespace} lacks search attribute(s) ${missing.join(', ')} (run: temporal operator search-attribute create ${create})`);
  }
}

/** Runs an entry point's start-up; on a PreflightError or ConfigError prints its one line and exits 1. */
export function exitOnStartupError(component: string, err: unknown): never {
  const e = err as Error;
  const oneLine = e?.name === 'PreflightError' || e?.name === 'ConfigError' ? e.message : `unexpected start-up error: ${reason(err)}`;
  process.stderr.write(`agentrun ${component}: cannot start: ${oneLine}\n`);
  process.exit(1);
}
