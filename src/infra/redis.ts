/**
 * Redis connections. Request paths never queue commands while Redis is away
 * (`enableOfflineQueue: false`): they fail fast and the caller answers 503.
 * `rediss://` URLs get TLS, and ACL users come from the URL.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';

export type { Redis };

export interface RedisConnectOptions {
  /** Allow commands to wait for a (re)connect; only for long-lived subscribers and workers. */
  offlineQueue?: boolean;
  connectTimeoutMs?: number;
  name?: string;
  /** CA bundle for `rediss://` with a private CA (processes can also use NODE_EXTRA_CA_CERTS). */
  tlsCa?: string | Buffer;
}

export function createRedis(url: string, opts: RedisConnectOptions = {}): Redis {
  const options: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: opts.offlineQueue ?? false,
    maxRetriesPerRequest: opts.offlineQueue ? 3 : 1,
    connectTimeout: opts.connectTimeoutMs ?? 5000,
    connectionName: opts.name,
    // Reconnect forever with capped backoff; commands fail fast meanwhile.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 3000),
    keepAlive: 10_000,
  };
  if (url.startsWith('rediss://')) options.tls = opts.tlsCa ? { ca: opts.tlsCa } : {};
  const redis = new Redis(url, options);
  // Connection errors surface through failed commands and readiness checks; remember the
  // last one for messages instead of letting ioredis print "Unhandled error event".
  redis.on('error', (err: Error) => { lastErrors.set(redis, err); });
  return redis;
}

const lastErrors = new WeakMap<Redis, Error>();

/** The last connection error seen on this client, if any (e.g. ECONNREFUSED). */
export function lastRedisError(redis: Redis): Error | undefined {
  return lastErrors.get(redis);
}

/** Human form of a Redis URL for messages: never prints the password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable url>';
  }
}

/**
 * A Lua script, run by its SHA1 (EVALSHA): Redis keeps it compiled, and a call sends a
 * hash instead of the script. Sent whole (EVAL) only when Redis does not know it yet
 * (NOSCRIPT: a fresh or restarted Redis, SCRIPT FLUSH), which also caches it for the next.
 */
export class LuaScript {
  readonly source: string;
  readonly sha1: string;

  constructor(source: string) {
    this.source = source;
    this.sha1 = createHash('sha1').update(source).digest('hex');
  }

  /** Runs the script: `numKeys` keys first, then the arguments, as EVAL takes them. */
  async run(redis: Redis, numKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha1, numKeys, ...keysAndArgs);
    } catch (err) {
      if (!/^NOSCRIPT/.test((err as Error).message)) throw err;
      return redis.eval(this.source, numKeys, ...keysAndArgs);
    }
  }
}
