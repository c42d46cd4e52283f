/**
 * /v1/runs: start (with Idempotency-Key), list, read, follow (SSE), control and
 * workspace files of the caller's runs. Every route naming a run checks that the
 * caller owns it (404 otherwise, as for a run that does not exist).
 */
import express from 'express';
import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { z } from 'zod';
import { NO_NUL, noNul, requiredText } from './body-text.ts';
import { actorOf, callerOf } from './auth.ts';
import type { Caller } from './auth.ts';
import { HttpError, jsonBody, parseOr400 } from './errors.ts';
import type { EventHub } from './event-hub.ts';
import { IDEMPOTENCY_KEY_RE } from './idempotency.ts';
import type { IdempotencyStore } from './idempotency.ts';
import type { OpenStreams } from './open-streams.ts';
import { SseSession } from './sse.ts';
import { DEFAULT_SSE_OPTIONS } from './sse-writer.ts';
import type { SseLimits } from './sse-limits.ts';
import type { EventLog } from '../infra/event-log.ts';
import { RunsError, Unavailable } from '../runs/errors.ts';
import { newRunId } from '../runs/ids.ts';
import type { ControlAction, RunsService } from '../runs/index.ts';
import type { Config } from '../shared/config.ts';
import { isRunId } from '../shared/names.ts';
import { MESSAGE_MAX_CHARS, RUN_STATUSES, TERMINAL_STATUSES } from '../shared/run.ts';
import { isStreamId } from '../shared/stream-id.ts';

export interface RunsRoutesDeps {
  runs: RunsService;
  /** Caps on open event streams (per user, per process). */
  sseLimits?: SseLimits;
  /** Open streams, ended with a `: shutting down` comment when the process stops. */
  streams?: OpenStreams;
  hub: EventHub;
  events: EventLog;
  idempotency: IdempotencyStore;
  config: Config['api'];
  log: Logger;
}

export function createRunBody(promptMaxChars: number) {
  return z.object({
    prompt: requiredText(promptMaxChars),
    requireApproval: z.boolean({ error: 'must be true or false' }).optional(),
    priority: z.number({ error: 'must be an integer from 1 (first) to 5 (last)' }).int().min(1).max(5).optional(),
    budget: z.number({ error: 'must be a whole number of credits' }).int().min(1).max(1_000_000).optional(),
    workspaceId: z.string({ error: 'must be the id of an earlier run of yours' })
      .refine(isRunId, 'must be the id of an earlier run of yours (run_…)').optional(),
  }).strict();
}

export const approveBody = z.object({
  approved: z.boolean({ error: 'must be true or false' }).default(true),
  comment: z.string({ error: 'must be a string' }).max(2000, 'must be at most 2000 characters').refine(noNul, NO_NUL).optional(),
  extraCredits: z.number({ error: 'must be a whole number of credits' }).int().min(1).max(1_000_000).optional(),
}).strict();

export const forkBody = z.object({
  fromStep: z.number({ error: (i) => (i.input === undefined ? 'is required' : 'must be a step number (1 is the first)') }).int('must be a whole number').min(1, 'must be at least 1'),
  requireApproval: z.boolean({ error: 'must be true or false' }).optional(),
  priority: z.number({ error: 'must be an integer from 1 (first) to 5 (last)' }).int().min(1).max(5).optional(),
  budget: z.number({ error: 'must be a whole number of credits' }).int().min(1).max(1_000_000).optional(),
}).strict();

export const messageBody = z.object({
  text: requiredText(MESSAGE_MAX_CHARS),
}).strict();

export const listQuery = z.object({
  limit: z.coerce.number({ error: 'must be a number from 1 to 100' }).int('must be a whole number').min(1, 'must be at least 1').max(100, 'must be at most 100').default(20),
  status: z.string().transform((s) => s.split(',')).pipe(z.array(z.enum(RUN_STATUSES, { error: `must be one or more of ${RUN_STATUSES.join(', ')}, comma-separated` }))).optional(),
  cursor: z.string().optional(),
}).strict();

export const filesQuery = z.object({
  limit: z.coerce.number({ error: 'must be a number from 1 to 1000' }).int().min(1).max(1000).default(1000),
  cursor: z.string().max(2048).optional(),
}).strict();

const lastEventId = z.string().refine(isStreamId, 'must be a stream id like 1700000000000-0');

export function links(id: string) {
  return { self: `/v1/runs/${id}`, events: `/v1/runs/${id}/events`, files: `/v1/runs/${id}/files` };
}

/** Opaque list cursor: the last run id of the previous page. */
export const runCursor = {
  encode: (id: string) => Buffer.from(JSON.stringify({ b: id })).toString('base64url'),
  decode(cursor: string): string {
    try {
      const { b } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { b?: unknown };
      if (typeof b === 'string' && isRunId(b)) return b;
    } catch { /* answered below */ }
    throw new HttpError(400, 'invalid_request', 'cursor: is not a cursor of this listing (pass nextCursor back unchanged)');
  },
};

/**
 * Streams a run's events to the caller: replay from Last-Event-ID, then live.
 * Ownership is checked on every (re)connect; the stream ends when the caller's
 * token expires. Each open stream holds a place under the caller's and the
 * process's caps (src/api/sse-limits.ts). A run recorded but not started (the
 * seeds' create) is followed all the same: a `: not started` comment, heartbeats,
 * then its events once it starts; a record that ended without a workflow gets one
 * `end` event saying it never started.
 */
export async function streamRunEvents(deps: RunsRoutesDeps, req: Request, res: Response, id: string, caller: Caller): Promise<void> {
  const run = await deps.runs.streamOwned(caller.userId, id);
  const started = run.description !== undefined || run.live === true;
  const raw = req.get('last-event-id') ?? (typeof req.query.lastEventId === 'string' ? req.query.lastEventId : undefined);
  const cursor = raw === undefined || raw === '' ? undefined : parseOr400(lastEventId, raw, 'Last-Event-ID');
  const release = deps.sseLimits?.acquire(caller.userId);
  try {
    if (!started && run.record && TERMINAL_STATUSES.has(run.record.status) && !run.record.started_at) {
      writeNeverStarted(res, run.record.status, run.record.error);
      return;
    }
    const session = new SseSession(
      {
        hub: deps.hub, events: deps.events, log: deps.log,
        isClosed: () => deps.runs.isClosed(id), archive: (after) => deps.runs.archivedEvents(caller.userId, id, after),
      },
      { ...DEFAULT_SSE_OPTIONS, heartbeatMs: deps.config.sseHeartbeatMs },
      id, res, cursor,
    );
    try {
      await session.open();
    } catch (err) {
      if (err instanceof HttpError || err instanceof RunsError) throw err;
      throw new Unavailable('Redis', err);
    }
    if (!started && !res.writableEnded) {
      res.write(`: not started: run ${id} is recorded but not started yet; this stream waits for it\n\n`);
    }
    const unregister = deps.streams?.add(() => {
      if (!res.writableEnded) res.write(': shutting down: reconnect with Last-Event-ID\n\n');
      session.close();
    });
    const cancelExpiry = caller.expiresAtMs === undefined ? undefined : at(caller.expiresAtMs, () => {
      if (!res.writableEnded) res.write(': token expired; reconnect with a fresh token and Last-Event-ID\n\n');
      session.close();
    });
    try {
      await session.done();
    } finally {
      cancelExpiry?.();
      unregister?.();
    }
  } finally {
    release?.();
  }
}

/** The whole stream of a run that ended without ever starting: one `end` event. */
function writeNeverStarted(res: Response, status: string, error: unknown): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' });
  res.end(`: not started: this run ended (${status}) without ever starting\n\nevent: end\ndata: ${JSON.stringify({ status, started: false, ...(error ? { error } : {}), synthetic: true })}\n\n`);
}

export function runsRouter(deps: RunsRoutesDeps): express.Router {
  const r = express.Router();
  const body = createRunBody(deps.config.promptMaxChars);
  r.use(express.json({ limit: deps.config.bodyMaxBytes, strict: false }));

  r.post('/', async (req, res) => {
    const user = callerOf(res).userId;
    const input = parseOr400(body, jsonBody(req, true), 'body');
    const key = req.get('idempotency-key');
    const start = async (id?: string, resumed = false) => {
      const run = await deps.runs.start(user, input, { id, resumeClaim: resumed });
      return { status: 202, body: { id: run.id, status: run.status, links: links(run.id) } };
    };
    let out: { status: number; body: unknown; replayed?: boolean };
    if (key === undefined) out = await start();
    else {
      if (!IDEMPOTENCY_KEY_RE.test(key)) throw new HttpError(400, 'invalid_request', 'Idempotency-Key: must be 1-255 visible ASCII characters');
      out = await deps.idempotency.once(user, key, input, newRunId, start);
      if (out.replayed) res.setHeader('Idempotent-Replayed', 'true');
    }
    const id = (out.body as { id: string }).id;
    res.status(out.status).location(`/v1/runs/${id}`).json(out.body);
  });

  r.get('/', async (req, res) => {
    const q = parseOr400(listQuery, req.query, 'query');
    const before = q.cursor === undefined ? undefined : runCursor.decode(q.cursor);
    const { runs, more } = await deps.runs.list(callerOf(res).userId, { statuses: q.status, before, limit: q.limit });
    res.json({
      runs: runs.map((run) => ({ ...run, links: links(run.id) })),
      nextCursor: more ? runCursor.encode(runs.at(-1)!.id) : null,
    });
  });

  r.get('/:id', async (req, res) => {
    const run = await deps.runs.get(callerOf(res).userId, req.params.id);
    res.json({ ...run, links: links(run.id) });
  });

  r.get('/:id/events', async (req, res) => {
    await streamRunEvents(deps, req, res, req.params.id, callerOf(res));
  });

  const control = (action: ControlAction, parse: (req: Request) => unknown) => async (req: Request<{ id: string }>, res: Response) => {
    const out = await deps.runs.control(actorOf(callerOf(res)), req.params.id, action, parse(req) as never);
    res.status(202).json({ id: out.id, action, accepted: true, status: out.status, links: links(out.id) });
  };
  r.post('/:id/cancel', control('cancel', (req) => jsonBody(req, false)));
  r.post('/:id/approve', control('approve', (req) => parseOr400(approveBody, jsonBody(req, false), 'body')));
  r.post('/:id/pause', control('pause', (req) => jsonBody(req, false)));
  r.post('/:id/resume', control('resume', (req) => jsonBody(req, false)));
  r.post('/:id/messages', control('message', (req) => parseOr400(messageBody, jsonBody(req, true), 'body')));

  r.post('/:id/fork', async (req: Request<{ id: string }>, res: Response) => {
    const input = parseOr400(forkBody, jsonBody(req, true), 'body');
    const out = await deps.runs.fork(actorOf(callerOf(res)), req.params.id, input);
    res.status(202).location(`/v1/runs/${out.id}`).json({ id: out.id, status: out.status, forkOf: out.forkOf, links: links(out.id) });
  });

  r.get('/:id/files', async (req, res) => {
    const q = parseOr400(filesQuery, req.query, 'query');
    const out = await deps.runs.listFiles(callerOf(res).userId, req.params.id, { cursor: q.cursor, limit: q.limit });
    res.json({ runId: req.params.id, workspaceId: out.workspaceId, files: out.files, nextCursor: out.nextCursor ?? null });
  });

  // The path is taken from the raw URL and decoded once, then checked by checkWorkspacePath.
  r.get('/:id/files/*path', async (req, res) => {
    const rawPath = req.path.slice(`/${req.params.id}/files/`.length);
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      throw new HttpError(400, 'invalid_path', 'file path is not valid percent-encoded UTF-8');
    }
    const file = await deps.runs.openFile(callerOf(res).userId, req.params.id, path);
    res.status(200);
    res.setHeader('Content-Type', file.contentType);
    if (file.size !== undefined) res.setHeader('Content-Length', String(file.size));
    if (file.etag) res.setHeader('ETag', file.etag);
    if (file.lastModified) res.setHeader('Last-Modified', file.lastModified.toUTCString());
    const name = file.path.slice(file.path.lastIndexOf('/') + 1);
    res.setHeader('Content-Disposition', `attachment; filename*=UTF-8''${encodeURIComponent(name)}`);
    await pipeline(file.body, res);
  });

  return r;
}

/** Longest delay a Node timer keeps (2^31-1 ms, ~24.8 days): a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Calls `fn` at `atMs` (epoch ms), however far ahead (a token may live for years); returns a cancel. */
function at(atMs: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const left = atMs - Date.now();
    timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fn, Math.max(0, left));
  };
  arm();
  return () => clearTimeout(timer);
}
