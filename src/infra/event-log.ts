/**
 * A run's event log on Redis: each event is appended to a capped stream (its
 * entry id is the SSE id) and announced on the run's pub/sub channel, in one
 * atomic script. Appends are idempotent by event key, so an activity retried
 * after a crash never appends the same event twice.
 *
 * The stream is the only source of events. A pub/sub message is a hint that names
 * an entry id: anyone allowed to PUBLISH on `agent:logs:{runId}` can send one, so
 * readers take nothing from it but a syntactically valid id, and read that entry
 * (and its predecessor) from the run's own stream.
 */
import type { Redis } from 'ioredis';
import { LuaScript } from './redis.ts';
import { redisKeys } from '../shared/names.ts';
import { EVENT_TYPES } from '../shared/run.ts';
import { compareStreamIds, isStreamId } from '../shared/stream-id.ts';
import type { EventType, RunEvent } from '../shared/run.ts';

/** An event as stored: its stream id plus type and data. */
export interface StoredEvent {
  id: string;
  type: EventType;
  data: Record<string, unknown>;
  /**
   * Live events only: the id of the stream entry before this one ('' when it is the first).
   * A follower whose cursor is not `prev` missed something and re-reads the stream.
   */
  prev?: string;
}

// KEYS: stream, dedupe hash. ARGV: channel, maxlen, ttlSeconds, then (key, type, json) triples.
// The published message is "<id> <previous id>\n<type>\n<json>": subscribers need no second
// read, and can tell whether they saw every entry before it.
const APPEND_LUA = new LuaScript(`
local ids = {}
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = ''
if last[1] then prev = last[1][1] end
for i = 4, #ARGV, 3 do
  local existing = redis.call('HGET', KEYS[2], ARGV[i])
  if existing then
    ids[#ids + 1] = existing
  else
    local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'type', ARGV[i + 1], 'data', ARGV[i + 2])
    redis.call('HSET', KEYS[2], ARGV[i], id)
    redis.call('PUBLISH', ARGV[1], id .. ' ' .. prev .. '\\n' .. ARGV[i + 1] .. '\\n' .. ARGV[i + 2])
    prev = id
    ids[#ids + 1] = id
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return ids
`);

export interface EventLogOptions {
  maxLen: number;
  ttlS: number;
}

export class EventLog {
  private readonly redis: Redis;
  private readonly opts: EventLogOptions;

  constructor(redis: Redis, opts: EventLogOptions) {
    this.redis = redis;
    this.opts = opts;
  }

  /** Appends events in order; returns their stream ids (existing ids for keys already appended). */
  async append(runId: string, events: readonly RunEvent[]): Promise<string[]> {
    if (events.length === 0) return [];
    const args: string[] = [redisKeys.logsChannel(runId), String(this.opts.maxLen), String(this.opts.ttlS)];
    for (const e of events) args.push(e.key, e.type, JSON.stringify(e.data));
    const ids = (await APPEND_LUA.run(this.redis, 2, redisKeys.events(runId), redisKeys.eventDedupe(runId), ...args)) as string[];
    return ids;
  }

  /**
   * True when events after `afterId` may be missing from the stream: it was
   * trimmed past that id (MAXLEN), or it no longer exists (expired after the run).
   */
  async hasGap(runId: string, afterId: string | undefined): Promise<'missing' | 'trimmed' | false> {
    let info: unknown[];
    try {
      info = (await this.redis.call('XINFO', 'STREAM', redisKeys.events(runId))) as unknown[];
    } catch (err) {
      if (/no such key/i.test((err as Error).message)) return 'missing';
      throw err;
    }
    // Trimming removes the oldest entries (XINFO's max-deleted-entry-id only tracks XDEL):
    // something may be missing after the cursor when entries were removed and the oldest
    // remaining one is newer than the cursor.
    const field = (name: string) => { const i = info.indexOf(name); return i >= 0 ? info[i + 1] : undefined; };
    const removed = Number(field('entries-added') ?? 0) - Number(field('length') ?? 0);
    if (removed <= 0) return false;
    const first = field('first-entry') as [string, unknown] | null | undefined;
    if (!first) return 'trimmed';
    return afterId === undefined || compareStreamIds(first[0], afterId) > 0 ? 'trimmed' : false;
  }

  /**
   * The entry `id` of the run's stream with `prev` set to the entry before it ('' when
   * none), or undefined when the stream holds no such entry. `id` must be a stream id.
   */
  async entry(runId: string, id: string): Promise<StoredEvent | undefined> {
    if (!isStreamId(id)) return undefined;
    const rows = await this.redis.xrevrange(redisKeys.events(runId), id, '-', 'COUNT', 2);
    const [row, before] = rows;
    if (!row || row[0] !== id) return undefined;
    return { ...decodeFields(row[0], row[1]), prev: before?.[0] ?? '' };
  }

  /**
   * The entries `ids` (stream ids, in the order given) in one round trip, each with
   * `prev` set to the entry before it; ids the stream does not hold are left out. Reads the
   * entry before the first and the range from the first to the last, so a burst of
   * announcements costs one read, not one each.
   */
  async entries(runId: string, ids: readonly string[]): Promise<StoredEvent[]> {
    const wanted = ids.filter(isStreamId);
    if (wanted.length === 0) return [];
    const first = wanted.reduce((a, b) => (compareStreamIds(a, b) <= 0 ? a : b));
    const last = wanted.reduce((a, b) => (compareStreamIds(a, b) >= 0 ? a : b));
    const key = redisKeys.events(runId);
    // The range is bounded: ids announced far apart (a forged or very late message) are read one by one.
    const limit = wanted.length + 64;
    // A pipeline, not MULTI (the ACL user has no transactions): entries never change once written.
    const replies = await this.redis.pipeline().xrevrange(key, `(${first}`, '-', 'COUNT', 1).xrange(key, first, last, 'COUNT', limit).exec();
    if (!replies) throw new Error('event read aborted');
    for (const [err] of replies) if (err) throw err;
    const before = replies[0]![1] as [string, string[]][];
    const rows = replies[1]![1] as [string, string[]][];
    const want = new Set(wanted);
    const found = new Map<string, StoredEvent>();
    let prev = before[0]?.[0] ?? '';
    for (const [id, fields] of rows) {
      if (want.has(id)) found.set(id, { ...decodeFields(id, fields), prev });
      prev = id;
    }
    const reached = rows.at(-1)?.[0];
    const out: StoredEvent[] = [];
    for (const id of wanted) {
      const e = found.get(id) ?? (rows.length === limit && reached && compareStreamIds(id, reached) > 0 ? await this.entry(runId, id) : undefined);
      if (e) out.push(e);
    }
    return out;
  }

  /** The stream's newest `count` entries in order, each with `prev` set to the entry before it. */
  async newest(runId: string, count: number): Promise<StoredEvent[]> {
    const rows = (await this.redis.xrevrange(redisKeys.events(runId), '+', '-', 'COUNT', count + 1)).reverse();
    return rows.slice(rows.length > count ? 1 : 0).map(([id, fields], i, kept) => ({
      ...decodeFields(id, fields), prev: i > 0 ? kept[i - 1]![0] : rows.length > count ? rows[0]![0] : '',
    }));
  }

  /** Events strictly after `afterId` (or from the start), at most `count`. */
  async readAfter(runId: string, afterId: string | undefined, count: number): Promise<StoredEvent[]> {
    const start = afterId ? `(${afterId}` : '-';
    const rows = await this.redis.xrange(redisKeys.events(runId), start, '+', 'COUNT', count);
    return rows.map(([id, fields]) => decodeFields(id, fields));
  }
}

const TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);

export type DeliveryVerdict = 'ok' | 'invalid id' | 'undeliverable';
const verdicts = new WeakMap<StoredEvent, DeliveryVerdict>();
/**
 * Whether a stored event may be written to a client — a stream id and a known type; anything
 * else is skipped — and if not, why. Worked out once per object: the event hub hands one
 * object to every client following the run (nothing changes a StoredEvent once it is read).
 */
export function deliveryVerdict(e: StoredEvent): DeliveryVerdict {
  let v = verdicts.get(e);
  if (v === undefined) {
    v = !isStreamId(e.id) ? 'invalid id' : TYPES.has(e.type) ? 'ok' : 'undeliverable';
    verdicts.set(e, v);
  }
  return v;
}

/** A stream entry as an event; an entry with unreadable data keeps its id (so readers move past it) and is not deliverable. */
function decodeFields(id: string, fields: string[]): StoredEvent {
  let type = 'log';
  let data = '{}';
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'type') type = fields[i + 1]!;
    else if (fields[i] === 'data') data = fields[i + 1]!;
  }
  try {
    const parsed: unknown = JSON.parse(data);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return { id, type: type as EventType, data: parsed as Record<string, unknown> };
  } catch {
    // fall through
  }
  return { id, type: 'invalid' as EventType, data: {} };
}

/**
 * The entry id a pub/sub message announces (`<id> <previous id>\n<type>\n<json>` from the
 * append script), or undefined when its first word is not a stream id. The rest is ignored.
 */
export function announcedId(message: string): string | undefined {
  const end = message.search(/[ \n]/);
  const id = end < 0 ? message : message.slice(0, end);
  return isStreamId(id) ? id : undefined;
}
