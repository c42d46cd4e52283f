/**
 * Per-user request rate limit, counted in Redis so it holds across API processes:
 * a fixed window per user (INCR, and the window's expiry set by the first request
 * in it, in one script). Over the limit: 429 with Retry-After = what is left of the
 * window. When Redis cannot answer the request is let through (and logged): the
 * limit protects capacity, and refusing everyone during a Redis outage would not.
 */
import type { Redis } from 'ioredis';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { callerOf } from './auth.ts';
import { TooManyRequestsError } from './errors.ts';
import { redisKeys } from '../shared/names.ts';

const SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`;

export interface RateLimitOptions { requests: number; windowS: number }

export class RateLimiter {
  private readonly redis: Redis;
  private readonly opts: RateLimitOptions;
  private readonly log: Logger;

  constructor(redis: Redis, opts: RateLimitOptions, log: Logger) {
    this.redis = redis;
    this.opts = opts;
    this.log = log;
  }

  /** Counts one request of `userId`; throws TooManyRequestsError when over the limit. */
  async hit(userId: string): Promise<{ remaining: number; resetS: number }> {
    let count: number;
    let ttlMs: number;
    try {
      [count, ttlMs] = await this.redis.eval(SCRIPT, 1, redisKeys.rateLimit(userId), this.opts.windowS * 1000) as [number, number];
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'rate limit unavailable (Redis); request let through');
      return { remaining: this.opts.requests, resetS: this.opts.windowS };
    }
    const resetS = Math.ceil(ttlMs / 1000);
    if (count > this.opts.requests) {
      throw new TooManyRequestsError('rate_limited', `too many requests: at most ${this.opts.requests} per ${this.opts.windowS} s; try again in ${resetS} s`, resetS);
    }
    return { remaining: this.opts.requests - count, resetS };
  }

  /** Middleware after `requireCaller`: one hit per request, with RateLimit headers. */
  middleware(): RequestHandler {
    return (_req, res, next) => {
      this.hit(callerOf(res).userId).then(({ remaining, resetS }) => {
        res.setHeader('RateLimit-Limit', String(this.opts.requests));
        res.setHeader('RateLimit-Remaining', String(remaining));
        res.setHeader('RateLimit-Reset', String(resetS));
        next();
      }, next);
    };
  }
}
