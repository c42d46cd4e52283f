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
 * The claim carries the run id from the start: it is chosen when the key is first
 * claimed, before anything is recorded or started, and every later attempt under the key
 * uses the same id. So an ambiguous start (the start call failed after Temporal accepted
 * it), or an API process dying mid-start, can never yield a second run: a retry starts that
 * id again, and Temporal refuses a second workflow with it.
 *
 * The claim is `pending` while one request works on it; `done` with the response
 * (IDEMPOTENCY_TTL_S) once the run started; `retry` after an attempt whose outcome is
 * unknown (StartOutcomeUnknown, src/runs/errors.ts). A `retry` claim, or a `pending` one older than
 * PENDING_TAKEOVER_MS (its process died), is taken over by the next request with the
 * same key and body. A duplicate waits for `done` and gets the original response; a
 * different body under the same key is 422. A failure known to have started nothing
 * (a 4xx, a run marked failed) is not remembered: the key is released.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { HttpError } from './errors.ts';
import { StartOutcomeUnknown, Unavailable } from '../runs/errors.ts';
import { sha256Hex } from '../shared/hash.ts';
import { redisKeys } from '../shared/names.ts';

export interface StoredResponse { status: number; body: unknown }

interface Claim { state: 'pending' | 'retry' | 'done'; fingerprint: string; runId: string; at: number; response?: StoredResponse }

export const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;
/** A `pending` claim older than this belongs to a process that died mid-start: another request may take it over. */
export const PENDING_TAKEOVER_MS = 60_000;

// Replaces the claim only when it is still exactly what the caller read (compare-and-set).
const CAS_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end
return 1
`;

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
   * Runs `produce` once per (user, key, body) with the run id of the claim: the first request
   * runs it, concurrent and later duplicates get its response (`replayed: true`); a request
   * taking over an unfinished claim runs it again with the same id (`resumed: true`).
   */
  async once(userId: string, key: string, body: unknown, newRunId: () => string,
    produce: (runId: string, resumed: boolean) => Promise<StoredResponse>): Promise<StoredResponse & { replayed: boolean }> {
    const redisKey = redisKeys.idempotency(userId, sha256Hex(key));
    const fp = fingerprint(body);
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      const mine: Claim = { state: 'pending', fingerprint: fp, runId: newRunId(), at: Date.now() };
      const claimed = await this.call(() => this.redis.set(redisKey, JSON.stringify(mine), 'EX', this.ttlS, 'NX'));
      if (claimed === 'OK') return this.run(redisKey, mine, false, produce);
      const raw = await this.call(() => this.redis.get(redisKey));
      if (raw !== null) {
        const claim = JSON.parse(raw) as Claim;
        if (claim.fingerprint !== fp) {
          throw new HttpError(422, 'idempotency_key_reused', 'Idempotency-Key was already used with a different request body');
        }
        if (claim.state === 'done' && claim.response) return { ...claim.response, replayed: true };
        if (claim.state === 'retry' || Date.now() - claim.at > PENDING_TAKEOVER_MS) {
          const taken: Claim = { ...claim, state: 'pending', at: Date.now() };
          if (await this.cas(redisKey, raw, taken)) return this.run(redisKey, taken, true, produce);
          continue;
        }
      }
      // Pending elsewhere (or just released by a failed first attempt): wait, then look again.
      if (Date.now() > deadline) {
        throw new HttpError(409, 'idempotency_in_progress', 'a request with this Idempotency-Key is still being processed; retry shortly', undefined, { 'Retry-After': '1' });
      }
      await sleep(25 + Math.random() * 25);
    }
  }

  private async run(redisKey: string, claim: Claim, resumed: boolean, produce: (runId: string, resumed: boolean) => Promise<StoredResponse>): Promise<StoredResponse & { replayed: boolean }> {
    const raw = JSON.stringify(claim);
    let response: StoredResponse;
    try {
      response = await produce(claim.runId, resumed);
    } catch (err) {
      // Unknown outcome: keep the run id for the next attempt. Known not started: forget the key.
      const next = err instanceof StartOutcomeUnknown ? { ...claim, state: 'retry' as const } : undefined;
      await this.cas(redisKey, raw, next).catch(() => undefined);
      throw err;
    }
    await this.call(() => this.redis.set(redisKey, JSON.stringify({ ...claim, state: 'done', response } satisfies Claim), 'EX', this.ttlS));
    return { ...response, replayed: false };
  }

  private async cas(redisKey: string, expected: string, next: Claim | undefined): Promise<boolean> {
    const r = await this.call(() => this.redis.eval(CAS_LUA, 1, redisKey, expected, next ? JSON.stringify(next) : '', String(this.ttlS)));
    return r === 1;
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new Unavailable('Redis', err);
    }
  }
}
