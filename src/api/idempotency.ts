/**
 * `Idempotency-Key` for POST /v1/runs, kept in Redis.
 *
 * Why Redis and not Postgres: the key must be claimed atomically by exactly one of
 * many concurrent requests across API processes, and forgotten after a while.
 * `SET NX PX` is exactly that (no table, no migration, no sweeper), Redis is already
 * on every request path (rate limit, events), and it runs with AOF and `noeviction`.
 * A second line of defence is structural: the claim carries the run id chosen by
 * its winner and the run id is the workflow id, so one key can only ever start that
 * one workflow.
 *
 * The claim is `pending` (short TTL, so a crashed API process frees it) until the
 * run has started, then `done` with the response (IDEMPOTENCY_TTL_S). A duplicate
 * waits for `done` and gets the original response; a different body under the same
 * key is 422. Failures are not remembered: the key is released and may be retried.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { HttpError, UnavailableError } from './errors.ts';
import { redisKeys } from '../shared/names.ts';
import { sha256Hex } from '../shared/hash.ts';

export interface StoredResponse { status: number; body: unknown }

interface Claim { state: 'pending' | 'done'; fingerprint: string; response?: StoredResponse }

export const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;
const PENDING_TTL_MS = 60_000;

/** A stable fingerprint of a JSON value: object keys sorted, so key order does not matter. */
export function fingerprint(value: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  return sha256Hex(JSON.stringify(canonical(value)));
}

export class IdempotencyStore {
  private readonly redis: Redis;
  private readonly ttlS: number;
  private readonly waitMs: number;

  constructor(redis: Redis, opts: { ttlS: number; waitMs?: number }) {
    this.redis = redis;
    this.ttlS = opts.ttlS;
    this.waitMs = opts.waitMs ?? 15_000;
  }

  /**
   * Runs `produce` once per (user, key, body): the first request runs it, concurrent and
   * later duplicates get its response (`replayed: true`).
   */
  async once(userId: string, key: string, body: unknown, produce: () => Promise<StoredResponse>): Promise<StoredResponse & { replayed: boolean }> {
    const redisKey = redisKeys.idempotency(userId, sha256Hex(key));
    const fp = fingerprint(body);
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      const claimed = await this.call(() => this.redis.set(redisKey, JSON.stringify({ state: 'pending', fingerprint: fp } satisfies Claim), 'PX', PENDING_TTL_MS, 'NX'));
      if (claimed === 'OK') {
        let response: StoredResponse;
        try {
          response = await produce();
        } catch (err) {
          await this.redis.del(redisKey).catch(() => undefined);
          throw err;
        }
        await this.call(() => this.redis.set(redisKey, JSON.stringify({ state: 'done', fingerprint: fp, response } satisfies Claim), 'EX', this.ttlS));
        return { ...response, replayed: false };
      }
      const raw = await this.call(() => this.redis.get(redisKey));
      if (raw !== null) {
        const claim = JSON.parse(raw) as Claim;
        if (claim.fingerprint !== fp) {
          throw new HttpError(422, 'idempotency_key_reused', 'Idempotency-Key was already used with a different request body');
        }
        if (claim.state === 'done' && claim.response) return { ...claim.response, replayed: true };
      }
      // Pending elsewhere (or just released by a failed first attempt): wait, then look again.
      if (Date.now() > deadline) {
        throw new HttpError(409, 'idempotency_in_progress', 'a request with this Idempotency-Key is still being processed; retry shortly', undefined, { 'Retry-After': '1' });
      }
      await sleep(25 + Math.random() * 25);
    }
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new UnavailableError('Redis', err);
    }
  }
}
