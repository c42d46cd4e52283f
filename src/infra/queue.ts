/**
 * The queue facade on Redis: the seeds' `jobs:*` lists kept consistent with
 * Temporal by run status transitions, and the primitives of the legacy ingress
 * consumer. Every multi-key change is one Lua script, so a list never loses or
 * duplicates an entry halfway, and replaying a call (an activity retry) is a no-op.
 *
 * Tracked runs are found through `jobs:index` (run id → `<list key>\n<member>`),
 * so a transition removes exactly the run's previous entry.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LuaScript } from './redis.ts';
import { sha256Hex } from '../shared/hash.ts';
import { queueKeys } from '../shared/names.ts';
import type { QueueKeys } from '../shared/names.ts';
import { entryAgeS, failedEntryShape, QUEUE_NAMES, queueForStatus } from '../shared/queue.ts';
import type { FailedEntry, FailureReason, QueueName, RetryEntry } from '../shared/queue.ts';
import type { RunStatus } from '../shared/run.ts';

// KEYS: index, pending, high_priority, processing, failed.
// ARGV: runId, target (pending|high_priority|processing|failed|none), now, priority|'', reason json|'', retry_count|'', retry_of|''.
// Moving within the same list is a no-op (an activity retry, or running ⇄ paused), so the entry keeps its `since`.
const TRACK_LUA = new LuaScript(`
local lists = { pending = KEYS[2], high_priority = KEYS[3], processing = KEYS[4], failed = KEYS[5] }
local runId, target, now = ARGV[1], ARGV[2], ARGV[3]
local entry = { run_id = runId, retry_count = 0 }
local cur = redis.call('HGET', KEYS[1], runId)
if cur then
  local nl = string.find(cur, '\\n', 1, true)
  local ckey, cmem = string.sub(cur, 1, nl - 1), string.sub(cur, nl + 1)
  if target ~= 'none' and ckey == lists[target] then return 0 end
  redis.call('LREM', ckey, 1, cmem)
  local ok, old = pcall(cjson.decode, cmem)
  if ok and type(old) == 'table' then
    entry.enqueued_at = old.enqueued_at
    entry.priority = old.priority
    entry.retry_count = old.retry_count or 0
    entry.retry_of = old.retry_of
  end
end
if target == 'none' then
  redis.call('HDEL', KEYS[1], runId)
  return cur and 1 or 0
end
if ARGV[4] ~= '' then entry.priority = tonumber(ARGV[4]) end
if ARGV[6] ~= '' then entry.retry_count = tonumber(ARGV[6]) end
if ARGV[7] ~= '' then entry.retry_of = ARGV[7] end
if entry.enqueued_at == nil then entry.enqueued_at = now end
entry.since = now
if target == 'failed' then
  entry.id = runId
  entry.source = 'run'
  entry.failed_at = now
  entry.reason = cjson.decode(ARGV[5])
end
local member = cjson.encode(entry)
redis.call('LPUSH', lists[target], member)
redis.call('HSET', KEYS[1], runId, lists[target] .. '\\n' .. member)
return 1
`);

// KEYS: source list, processing, index. ARGV: max entries to look at.
// Takes the oldest entry that is not a tracked run's own view entry (those stay where the facade put them).
const CLAIM_LUA = new LuaScript(`
local n = math.min(redis.call('LLEN', KEYS[1]), tonumber(ARGV[1]))
for i = 1, n do
  local m = redis.call('LINDEX', KEYS[1], -i)
  if not m then return false end
  local tracked = false
  local ok, job = pcall(cjson.decode, m)
  if ok and type(job) == 'table' and type(job.run_id) == 'string' then
    tracked = redis.call('HGET', KEYS[3], job.run_id) == KEYS[1] .. '\\n' .. m
  end
  if not tracked then
    if i == 1 then
      redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
    else
      redis.call('LREM', KEYS[1], -1, m)
      redis.call('LPUSH', KEYS[2], m)
    end
    return m
  end
end
return false
`);

// KEYS: from, to. ARGV: member to remove, member to add. Moves only when the first is still there (exactly once).
const SWAP_LUA = new LuaScript(`
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
return 1
`);

// KEYS: failed, retry, index. ARGV: failed member, retry member, run id|''.
const RETRY_CLAIM_LUA = new LuaScript(`
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
if ARGV[3] ~= '' and redis.call('HGET', KEYS[3], ARGV[3]) == KEYS[1] .. '\\n' .. ARGV[1] then
  redis.call('HDEL', KEYS[3], ARGV[3])
end
return 1
`);

export interface QueueStats {
  queues: Record<QueueName, { count: number; oldestAgeS: number | null }>;
  at: string;
}

export interface TrackOptions {
  priority?: number;
  reason?: FailureReason;
  retryCount?: number;
  retryOf?: string;
}

export function dlqId(): string {
  return `dlq_${randomBytes(8).toString('hex')}`;
}

/** The facade over one Redis connection and key prefix. */
export class QueueFacade {
  readonly keys: QueueKeys;
  private readonly redis: Redis;

  constructor(redis: Redis, prefix = 'jobs:') {
    this.redis = redis;
    this.keys = queueKeys(prefix);
  }

  keyOf(name: QueueName): string {
    return name === 'high_priority' ? this.keys.highPriority : this.keys[name];
  }

  /** Puts the run's entry where its status belongs (idempotent; see src/shared/queue.ts for the mapping). */
  async track(runId: string, status: RunStatus, opts: TrackOptions = {}): Promise<void> {
    const target = queueForStatus(status, opts.priority);
    const k = this.keys;
    const reason = target === 'failed' ? JSON.stringify(opts.reason ?? { code: 'RunFailed', message: 'the run failed' }) : '';
    await TRACK_LUA.run(this.redis, 5, k.index, k.pending, k.highPriority, k.processing, k.failed,
      runId, target, new Date().toISOString(), opts.priority === undefined ? '' : String(opts.priority), reason,
      opts.retryCount === undefined ? '' : String(opts.retryCount), opts.retryOf ?? '');
  }

  /** Where the facade lists a run now (for tests and the dead-letter view). */
  async whereIs(runId: string): Promise<{ queue: QueueName; member: string } | undefined> {
    const cur = await this.redis.hget(this.keys.index, runId);
    if (!cur) return undefined;
    const nl = cur.indexOf('\n');
    const key = cur.slice(0, nl);
    const queue = QUEUE_NAMES.find((q) => this.keyOf(q) === key);
    return queue ? { queue, member: cur.slice(nl + 1) } : undefined;
  }

  /** Counts and the age of the oldest entry (the list's tail) of every list, in one round trip. */
  async stats(nowMs = Date.now()): Promise<QueueStats> {
    const pipe = this.redis.pipeline();
    for (const q of QUEUE_NAMES) pipe.llen(this.keyOf(q)).lindex(this.keyOf(q), -1);
    const res = (await pipe.exec()) ?? [];
    const queues = {} as QueueStats['queues'];
    QUEUE_NAMES.forEach((q, i) => {
      const [e1, count] = res[2 * i] ?? [];
      const [e2, tail] = res[2 * i + 1] ?? [];
      const failure = e1 ?? e2;
      if (failure) throw failure;
      const age = typeof tail === 'string' ? entryAgeS(tail, nowMs) : undefined;
      queues[q] = { count: Number(count ?? 0), oldestAgeS: age === undefined ? null : Math.round(age * 1000) / 1000 };
    });
    return { queues, at: new Date(nowMs).toISOString() };
  }

  /** Dead-lettered entries, newest first, with their raw member (needed to retry exactly that entry). */
  async listFailed(limit = 1000): Promise<{ entry: FailedEntry; member: string }[]> {
    const members = await this.redis.lrange(this.keys.failed, 0, limit - 1);
    return members.map((member) => ({ entry: parseFailed(member), member }));
  }

  /** Moves the oldest untracked entry of jobs:high_priority, else jobs:pending, into jobs:processing. */
  async claim(maxScan = 1000): Promise<{ raw: string; fromHighPriority: boolean } | undefined> {
    for (const [key, high] of [[this.keys.highPriority, true], [this.keys.pending, false]] as const) {
      const raw = (await CLAIM_LUA.run(this.redis, 3, key, this.keys.processing, this.keys.index, String(maxScan))) as string | null;
      if (raw !== null) return { raw, fromHighPriority: high };
    }
    return undefined;
  }

  /** Entries in jobs:processing that are no tracked run's view entry: ingress work a consumer took and did not finish. */
  async unfinishedIngress(): Promise<string[]> {
    const members = await this.redis.lrange(this.keys.processing, 0, -1);
    const out: string[] = [];
    for (const m of members) {
      let runId: unknown;
      try {
        runId = (JSON.parse(m) as { run_id?: unknown }).run_id;
      } catch {
        runId = undefined;
      }
      if (typeof runId === 'string' && (await this.redis.hget(this.keys.index, runId)) === `${this.keys.processing}\n${m}`) continue;
      out.push(m);
    }
    return out;
  }

  /** Removes a consumed ingress entry from jobs:processing. */
  async ack(raw: string): Promise<boolean> {
    return (await this.redis.lrem(this.keys.processing, 1, raw)) === 1;
  }

  /** Moves an ingress entry from jobs:processing to jobs:failed with the reason (once, even when called twice). */
  async deadLetter(raw: string, reason: FailureReason, runId?: string): Promise<FailedEntry> {
    const entry: FailedEntry = { id: dlqId(), run_id: runId ?? null, source: 'ingress', reason, failed_at: new Date().toISOString(), job: raw };
    await SWAP_LUA.run(this.redis, 2, this.keys.processing, this.keys.failed, raw, JSON.stringify(entry));
    return entry;
  }

  /** Moves an ingress entry from jobs:processing to jobs:retry, due at `retryAt` (a transient outage). */
  async defer(raw: string, job: string, retryCount: number, retryAt: Date, reason: FailureReason): Promise<void> {
    const entry: RetryEntry = { id: dlqId(), kind: 'requeue', job, retry_at: retryAt.toISOString(), retry_count: retryCount, reason };
    await SWAP_LUA.run(this.redis, 2, this.keys.processing, this.keys.retry, raw, JSON.stringify(entry));
  }

  /** Takes a dead-lettered entry for a retry: jobs:failed → jobs:retry, exactly once across concurrent callers. */
  async claimForRetry(failedMember: string, retry: RetryEntry, runId?: string): Promise<boolean> {
    const r = await RETRY_CLAIM_LUA.run(this.redis, 3, this.keys.failed, this.keys.retry, this.keys.index,
      failedMember, JSON.stringify(retry), runId ?? '');
    return r === 1;
  }

  /** Entries of jobs:retry (raw member and parsed). */
  async listRetry(): Promise<{ entry: RetryEntry; member: string }[]> {
    const members = await this.redis.lrange(this.keys.retry, 0, -1);
    const out: { entry: RetryEntry; member: string }[] = [];
    for (const member of members) {
      try {
        out.push({ entry: JSON.parse(member) as RetryEntry, member });
      } catch {
        // not ours: leave it for an operator
      }
    }
    return out;
  }

  /** jobs:retry → jobs:pending (the entry's job), exactly once. */
  async requeue(retryMember: string, job: string): Promise<boolean> {
    return (await SWAP_LUA.run(this.redis, 2, this.keys.retry, this.keys.pending, retryMember, job)) === 1;
  }
}

export function parseFailed(member: string): FailedEntry {
  try {
    const e: unknown = JSON.parse(member);
    if (failedEntryShape.safeParse(e).success) return e as FailedEntry;
  } catch {
    // fall through
  }
  // Something else pushed onto jobs:failed (a seed-era worker): shown as is, retried by re-enqueueing it verbatim.
  return { id: `raw_${sha256Hex(member).slice(0, 16)}`, source: 'ingress', reason: { code: 'unknown', message: 'entry not written by agentrun' }, failed_at: null, job: member };
}
