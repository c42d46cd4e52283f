/**
 * Redis (apt `redis-server`): AOF persistence, `noeviction`, a password on the
 * `default` (admin) user and agentrun's ACL user from src/infra/redis-acl.ts,
 * written as an ACL file that a running server reloads on every `up`.
 */
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aclFileLine, AGENTRUN_REDIS_USER } from '../../infra/redis-acl.ts';
import { createRedis } from '../../infra/redis.ts';
import { sha256Hex } from '../../shared/hash.ts';
import { HOST, type StackContext } from '../context.ts';
import { apt, log, readPid, StackError, startDetached, stopPid, systemBin, waitFor } from '../proc.ts';
import { secrets } from '../secrets.ts';
import { logFile, pidFile, type Service } from './service.ts';

/**
 * The stem of every queue key the stack's ACL user may touch: `~jobs*` covers the default
 * QUEUE_KEY_PREFIX (`jobs:`) and the tests' own prefixes (`jobs-test-<hex>:`, `jobs-ops-<hex>:`, …).
 */
export const STACK_QUEUE_KEY_STEM = 'jobs';

function redisServerBin(): string | undefined {
  return systemBin('redis-server', '/usr/bin/redis-server');
}

function install(): void {
  if (redisServerBin()) return;
  log('installing redis-server from apt');
  apt(['redis-server'], 'redis-server');
}

/** The local Redis as its `default` user (admin: the stack manager and tests), or as agentrun's ACL user. */
export function redisUrl(ctx: StackContext, as: 'admin' | 'agentrun'): string {
  const s = secrets(ctx);
  return as === 'admin'
    ? `redis://default:${s.redisAdminPassword}@${HOST}:${ctx.ports.redis}`
    : `redis://${AGENTRUN_REDIS_USER}:${s.redisPassword}@${HOST}:${ctx.ports.redis}`;
}

/**
 * The ACL file: `default` keeps every right but needs its password (Redis replays the AOF
 * as `default`, so it cannot be switched off), and agentrun's user gets only its keys,
 * channels and commands (src/infra/redis-acl.ts), with STACK_QUEUE_KEY_STEM as its queue
 * keys. Passwords are stored as SHA-256.
 */
function writeAclFile(ctx: StackContext): string {
  const s = secrets(ctx);
  const file = join(ctx.paths.state, 'redis-users.acl');
  writeFileSync(file, [
    `user default on #${sha256Hex(s.redisAdminPassword)} ~* &* +@all`,
    aclFileLine(AGENTRUN_REDIS_USER, sha256Hex(s.redisPassword), STACK_QUEUE_KEY_STEM),
  ].join('\n') + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

async function withRedis<T>(url: string, fn: (r: ReturnType<typeof createRedis>) => Promise<T>): Promise<T> {
  const r = createRedis(url, { connectTimeoutMs: 1000 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

async function healthy(ctx: StackContext): Promise<boolean> {
  return withRedis(redisUrl(ctx, 'admin'), async (r) => (await r.ping()) === 'PONG');
}

/** Starts redis-server on <data>/redis; `appendonly` off only to load a restored RDB file (Redis ignores it with AOF on). */
async function launch(ctx: StackContext, appendonly: boolean): Promise<void> {
  const acl = writeAclFile(ctx);
  const pid = pidFile(ctx, 'redis');
  const logs = logFile(ctx, 'redis');
  const bin = redisServerBin();
  if (!bin) throw new StackError('redis-server is not installed: run ./dev install');
  mkdirSync(redisDir(ctx), { recursive: true });
  startDetached(bin, [
    '--bind', HOST, '--port', String(ctx.ports.redis), '--dir', redisDir(ctx), '--protected-mode', 'yes',
    '--aclfile', acl,
    '--appendonly', appendonly ? 'yes' : 'no', '--appendfsync', 'everysec', '--save', '',
    '--maxmemory-policy', 'noeviction', '--daemonize', 'no',
  ], { logFile: logs, pidFile: pid });
  await waitFor('Redis', 20_000, () => healthy(ctx).catch(() => false), `see ${logs}`);
}

const redisDir = (ctx: StackContext) => join(ctx.paths.data, 'redis');

async function start(ctx: StackContext): Promise<void> {
  const pid = pidFile(ctx, 'redis');
  // A running Redis takes the current ACL file; one started without it (or without a password) is restarted.
  writeAclFile(ctx);
  if (readPid(pid) && (await withRedis(redisUrl(ctx, 'admin'), async (r) => (await r.call('ACL', 'LOAD')) === 'OK').catch(() => false))) return;
  await stopPid(pid);
  await launch(ctx, true);
}

/** A consistent snapshot of the running Redis (BGSAVE) copied to `file`. */
export async function saveRedisRdb(ctx: StackContext, file: string): Promise<void> {
  const saves = (info: string) => Number(/rdb_saves:(\d+)/.exec(info)?.[1] ?? NaN);
  await withRedis(redisUrl(ctx, 'admin'), async (r) => {
    const before = saves(await r.info('persistence'));
    // SCHEDULE: an AOF rewrite in progress postpones the snapshot instead of refusing it.
    await r.call('BGSAVE', 'SCHEDULE');
    let info = '';
    await waitFor('Redis BGSAVE', 120_000, async () => {
      info = await r.info('persistence');
      return saves(info) > before && /rdb_bgsave_in_progress:0/.test(info);
    });
    if (!/rdb_last_bgsave_status:ok/.test(info)) throw new StackError(`Redis BGSAVE failed: see ${logFile(ctx, 'redis')}`);
  });
  copyFileSync(join(redisDir(ctx), 'dump.rdb'), file);
}

/**
 * Replaces Redis's data with an RDB snapshot: stopped, its directory emptied, the file put
 * in, started with AOF off (so it loads the RDB), AOF switched on (Redis rewrites it from
 * the loaded data), then restarted as usual.
 */
export async function restoreRedisRdb(ctx: StackContext, file: string): Promise<void> {
  await stopPid(pidFile(ctx, 'redis'));
  rmSync(redisDir(ctx), { recursive: true, force: true });
  mkdirSync(redisDir(ctx), { recursive: true });
  copyFileSync(file, join(redisDir(ctx), 'dump.rdb'));
  await launch(ctx, false);
  await withRedis(redisUrl(ctx, 'admin'), async (r) => {
    await r.config('SET', 'appendonly', 'yes');
    await waitFor('Redis AOF rewrite', 120_000, async () => {
      const info = await r.info('persistence');
      return /aof_enabled:1/.test(info) && /aof_rewrite_in_progress:0/.test(info) && !/aof_rewrite_scheduled:1/.test(info);
    });
  });
  await stopPid(pidFile(ctx, 'redis'));
  await launch(ctx, true);
}

export const redis: Service = {
  name: 'redis',
  install,
  start,
  healthy,
  stop: (ctx) => stopPid(pidFile(ctx, 'redis')),
  where: (ctx) => `redis://${AGENTRUN_REDIS_USER}:***@${HOST}:${ctx.ports.redis} (AOF on, password and ACL user)`,
};
