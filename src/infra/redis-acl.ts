/**
 * The Redis ACL of agentrun's processes (API and worker), defined once from the
 * key builders in src/shared/names.ts: the stack manager creates the user with
 * it, the tests check it, README lists it for production ACLs. Pure module.
 */
import { queueKeys, redisKeys } from '../shared/names.ts';

/** The ACL user the local stack's REDIS_URL names. */
export const AGENTRUN_REDIS_USER = 'agentrun';

/**
 * Keys agentrun reads and writes, as ACL key patterns. `queuePrefix` is QUEUE_KEY_PREFIX
 * (`jobs:` gives `~jobs:*`), or a stem shared by several prefixes: the local stack passes
 * `jobs`, giving `~jobs*`, which also covers the tests' own `jobs-test-<hex>:` prefixes.
 */
export function aclKeyPatterns(queuePrefix = 'jobs:'): string[] {
  const any = '*';
  return [
    redisKeys.events(any), // the run's stream, and its `…:keys` dedupe hash
    redisKeys.workerHeartbeat,
    redisKeys.backoff,
    redisKeys.rateLimit(any),
    redisKeys.idempotency(any, any).replace(/(:\*)+$/, ':*'),
    // Every queue list and the index: `<queuePrefix>*`.
    `${commonPrefix(Object.values(queueKeys(queuePrefix)))}*`,
  ];
}

/** Pub/sub channels: the worker publishes, the API subscribes. */
export const ACL_CHANNEL_PATTERNS: readonly string[] = [redisKeys.logsChannel('*')];

/**
 * Commands, by what needs them. Lua scripts (EVAL) run with the caller's permissions,
 * so the commands the scripts call are listed too.
 */
export const ACL_COMMANDS: readonly string[] = [
  // connection: ioredis's ready check (INFO), connection names, the consumer's version check, health checks
  'ping', 'info', 'client|setname', 'select', 'quit',
  // scripts (the event log's append, the queue facade, the rate limit): by hash, whole when Redis lacks it
  'evalsha', 'eval',
  // event streams (append, SSE reads, gap checks)
  'xadd', 'xrange', 'xrevrange', 'xinfo|stream', 'expire',
  // pub/sub
  'publish', 'subscribe', 'unsubscribe',
  // the queue facade's lists and index
  'llen', 'lindex', 'lrange', 'lpush', 'lrem', 'lmove', 'hget', 'hset', 'hdel',
  // the tool breakers (work:backoff)
  'hgetall',
  // rate limit, idempotency, worker heartbeat
  'incr', 'pexpire', 'pttl', 'get', 'set', 'del',
];

/**
 * The ACL rule text of the user (after `user <name>`), without its password:
 * `on ~… &… resetchannels -@all +…`.
 */
export function aclRules(queuePrefix = 'jobs:'): string {
  return [
    'on', 'resetkeys', ...aclKeyPatterns(queuePrefix).map((p) => `~${p}`),
    'resetchannels', ...ACL_CHANNEL_PATTERNS.map((p) => `&${p}`),
    '-@all', ...ACL_COMMANDS.map((c) => `+${c}`),
  ].join(' ');
}

/** A line of an ACL file (`aclfile`) for the user; `password` is stored only as its SHA-256 (`#…`). */
export function aclFileLine(user: string, passwordSha256Hex: string, queuePrefix = 'jobs:'): string {
  return `user ${user} reset ${aclRules(queuePrefix)} #${passwordSha256Hex}`;
}

function commonPrefix(values: string[]): string {
  let p = values[0] ?? '';
  for (const v of values) while (!v.startsWith(p)) p = p.slice(0, -1);
  return p;
}
