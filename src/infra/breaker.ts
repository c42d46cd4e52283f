/**
 * A breaker per user and tool, in Redis under the seeds' `work:backoff` hash (field
 * `<user>:<tool>`, value `{failures, opens, openUntil}`): after `failures` failed steps of
 * one tool in a row for one user, the tool is refused for that user for the cooldown;
 * the first failure after the cooldown ended reopens it for twice as long (up to the
 * cap), a success closes it. Failures that arrive while it is open (steps that were
 * already running) are counted but change nothing else: only a failure after the
 * cooldown reopens it. Each change is one script, so concurrent steps count once each.
 * Redis is not an authority here either: when it does not answer, steps run (fail open).
 */
import type { Redis } from 'ioredis';
import { LuaScript } from './redis.ts';
import { redisKeys } from '../shared/names.ts';

export interface BreakerConfig { failures: number; cooldownS: number; maxCooldownS: number }
/** One breaker's state: open (refusing the tool) until `until` (ms since the epoch), after `failures` failures in a row. */
export interface BreakerNow { open: boolean; until: number; failures: number }
/** A breaker as the API shows it: `openUntil` in ISO 8601 (null before it first opened). */
export interface BreakerState { userId: string; tool: string; failures: number; opens: number; open: boolean; openUntil: string | null }

const RECORD = new LuaScript(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == 'ok' then
  if raw then redis.call('HDEL', KEYS[1], ARGV[1]) end
  return nil
end
local s = raw and cjson.decode(raw) or { failures = 0, opens = 0, openUntil = 0 }
local now, threshold, cooldown, cap = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
s.failures = s.failures + 1
if s.openUntil <= now and (s.opens > 0 or s.failures >= threshold) then
  s.opens = s.opens + 1
  s.openUntil = now + math.min(cooldown * 2 ^ (s.opens - 1), cap) * 1000
end
local out = cjson.encode(s)
redis.call('HSET', KEYS[1], ARGV[1], out)
return out
`);

function stateOf(raw: string | null, now: number): BreakerNow | undefined {
  if (!raw) return undefined;
  const s = JSON.parse(raw) as { failures: number; openUntil: number };
  return { open: s.openUntil > now, until: s.openUntil, failures: s.failures };
}

export class ToolBreaker {
  private readonly redis: Redis;
  private readonly cfg: BreakerConfig;
  constructor(redis: Redis, cfg: BreakerConfig) {
    this.redis = redis;
    this.cfg = cfg;
  }

  /**
   * The user's breaker for the tool: undefined when it has no failures on record (the common
   * case: a success then needs no write), else whether it refuses the tool and until when.
   */
  async state(userId: string, tool: string, now = Date.now()): Promise<BreakerNow | undefined> {
    return stateOf(await this.redis.hget(redisKeys.backoff, `${userId}:${tool}`), now);
  }

  /**
   * A step of the tool ended, or one attempt of it failed: ok closes the breaker (undefined
   * back), a failure counts (and may open it); the breaker as it is afterwards.
   */
  async record(userId: string, tool: string, ok: boolean, now = Date.now()): Promise<BreakerNow | undefined> {
    const out = await RECORD.run(this.redis, 1, redisKeys.backoff, `${userId}:${tool}`, ok ? 'ok' : 'failed', now, this.cfg.failures, this.cfg.cooldownS, this.cfg.maxCooldownS);
    return stateOf(typeof out === 'string' ? out : null, now);
  }

  /** Every breaker with failures on record (for one user when named), open ones first. */
  async list(userId?: string, now = Date.now()): Promise<BreakerState[]> {
    const all = await this.redis.hgetall(redisKeys.backoff);
    const out = Object.entries(all).map(([field, raw]) => {
      const at = field.indexOf(':');
      const s = JSON.parse(raw) as { failures: number; opens: number; openUntil: number };
      return { userId: field.slice(0, at), tool: field.slice(at + 1), failures: s.failures, opens: s.opens, openUntil: s.openUntil > 0 ? new Date(s.openUntil).toISOString() : null, open: s.openUntil > now };
    });
    return out.filter((b) => userId === undefined || b.userId === userId).sort((a, b) => Number(b.open) - Number(a.open));
  }

  /** Closes one breaker (an operator's reset); false when there was none. */
  async reset(userId: string, tool: string): Promise<boolean> {
    return (await this.redis.hdel(redisKeys.backoff, `${userId}:${tool}`)) > 0;
  }
}
