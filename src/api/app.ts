/** The HTTP face: routes, validation at the boundary, one error middleware. */
import express from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { errorMiddleware, HttpError, jsonNotFound, parseOr400, UnavailableError } from './errors.ts';
import type { EventHub } from './event-hub.ts';
import type { RunsService } from './runs-service.ts';
import { DEFAULT_SSE_OPTIONS, SseSession } from './sse.ts';
import type { EventLog } from '../infra/event-log.ts';
import type { Config } from '../shared/config.ts';
import { MAX_PROMPT_CHARS } from '../shared/run.ts';
import { isStreamId } from '../shared/stream-id.ts';

export interface AppDeps {
  runs: RunsService;
  hub: EventHub;
  events: EventLog;
  config: Config['api'];
  log: Logger;
}

const createRunBody = z.object({
  prompt: z.string({ error: (i) => (i.input === undefined ? 'is required' : 'must be a string') })
    .trim().min(1, 'must not be empty').max(MAX_PROMPT_CHARS, `must be at most ${MAX_PROMPT_CHARS} characters`),
  requireApproval: z.boolean({ error: 'must be true or false' }).optional(),
  priority: z.number({ error: 'must be an integer from 1 (first) to 5 (last)' }).int().min(1).max(5).optional(),
  budget: z.number({ error: 'must be a whole number of credits' }).int().min(1).max(1_000_000).optional(),
}).strict();

const lastEventId = z.string().refine(isStreamId, 'must be a stream id like 1700000000000-0');

function links(id: string) {
  return { self: `/v1/runs/${id}`, events: `/v1/runs/${id}/events` };
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });

  app.get('/healthz', (_req, res) => { res.json({ ok: true }); });

  app.post('/v1/runs', express.json({ limit: deps.config.bodyMaxBytes, strict: false }), async (req, res) => {
    if (!req.is('application/json')) throw new HttpError(415, 'unsupported_media_type', 'body must be application/json');
    const body = parseOr400(createRunBody, req.body, 'body');
    const run = await deps.runs.start(deps.config.defaultUserId, body);
    res.status(202).location(`/v1/runs/${run.id}`).json({ id: run.id, status: run.status, links: links(run.id) });
  });

  app.get('/v1/runs/:id', async (req, res) => {
    const run = await deps.runs.get(req.params.id);
    res.json({ ...run, links: links(run.id) });
  });

  app.get('/v1/runs/:id/events', async (req, res) => {
    const id = req.params.id;
    await deps.runs.describe(id); // 404 for unknown runs
    const raw = req.get('last-event-id') ?? (typeof req.query.lastEventId === 'string' ? req.query.lastEventId : undefined);
    const cursor = raw === undefined || raw === '' ? undefined : parseOr400(lastEventId, raw, 'Last-Event-ID');
    const session = new SseSession(
      { hub: deps.hub, events: deps.events, log: deps.log, isClosed: () => deps.runs.isClosed(id) },
      { ...DEFAULT_SSE_OPTIONS, heartbeatMs: deps.config.sseHeartbeatMs },
      id, res, cursor,
    );
    try {
      await session.open(req);
    } catch (err) {
      throw new UnavailableError('Redis', err);
    }
    await session.done();
  });

  app.use(jsonNotFound);
  app.use(errorMiddleware(deps.log));
  return app;
}
