/**
 * The seeds' endpoints, kept so their clients work unchanged, mapped onto the same
 * service as /v1/runs (same auth, ownership, limits):
 *
 *   POST /agent/execute {"action":"create","prompt":…}   → 201 {run_id, status:"created"}  (recorded, not started)
 *   POST /agent/execute {"action":"start","run_id":…}    → 202 {run_id, status:"queued"}
 *   POST /agent/execute {"action":"stop","run_id":…}     → 202 {run_id, status:"cancelling"}
 *   POST /agent/execute {"action":"status","run_id":…}   → 200 {run_id, status, plan, steps, …}
 *   POST /agent/execute {"action":"retry","run_id":…}    → 202 {run_id (new), retry_of, status:"queued"}
 *   GET  /agent/logs/:runId/stream                        → the run's SSE stream (as /v1/runs/:id/events)
 *
 * Fields are snake_case as in the seeds; unknown fields are ignored, as the seeds' API did.
 */
import express from 'express';
import { z } from 'zod';
import { requiredText } from './body-text.ts';
import { actorOf, callerOf } from './auth.ts';
import { HttpError, parseOr400 } from './errors.ts';
import type { RunsRoutesDeps } from './runs-routes.ts';
import { links, streamRunEvents } from './runs-routes.ts';

export const SEED_ACTIONS = ['create', 'start', 'stop', 'status', 'retry'] as const;

export const actionOnly = z.object({
  action: z.enum(SEED_ACTIONS, { error: `must be one of ${SEED_ACTIONS.join(', ')}` }),
});
export const runIdBody = z.object({
  run_id: z.string({ error: (i) => (i.input === undefined ? 'is required' : 'must be a string') }).min(1, 'must not be empty'),
});

/** The body of `{"action":"create"}` (besides `action`). */
export function seedCreateBody(promptMaxChars: number) {
  return z.object({
    prompt: requiredText(promptMaxChars),
    priority: z.number({ error: 'must be an integer from 1 (first) to 5 (last)' }).int().min(1).max(5).optional(),
  });
}

export function seedRouter(deps: RunsRoutesDeps): express.Router {
  const r = express.Router();
  const createBody = seedCreateBody(deps.config.promptMaxChars);

  r.post('/execute', express.json({ limit: deps.config.bodyMaxBytes, strict: false }), async (req, res) => {
    if (!req.is('application/json')) throw new HttpError(415, 'unsupported_media_type', 'body must be application/json');
    const user = callerOf(res).userId;
    const { action } = parseOr400(actionOnly, req.body, 'body');
    if (action === 'create') {
      const b = parseOr400(createBody, req.body, 'body');
      const run = await deps.runs.create(user, b);
      res.status(201).json({ run_id: run.id, status: run.status, links: links(run.id) });
      return;
    }
    const { run_id: id } = parseOr400(runIdBody, req.body, 'body');
    switch (action) {
      case 'start': {
        const run = await deps.runs.startCreated(user, id);
        res.status(run.started ? 202 : 200).json({ run_id: run.id, status: run.status, started: run.started, links: links(run.id) });
        return;
      }
      case 'stop': {
        await deps.runs.control(actorOf(callerOf(res)), id, 'cancel');
        res.status(202).json({ run_id: id, status: 'cancelling', links: links(id) });
        return;
      }
      case 'status': {
        const { id: _id, ...view } = await deps.runs.get(user, id);
        res.json({ run_id: id, ...view, links: links(id) });
        return;
      }
      case 'retry': {
        const run = await deps.runs.retry(actorOf(callerOf(res)), id);
        res.status(202).json({ run_id: run.id, retry_of: run.retryOf, status: run.status, links: links(run.id) });
        return;
      }
    }
  });

  r.get('/logs/:runId/stream', async (req, res) => {
    await streamRunEvents(deps, req, res, req.params.runId, callerOf(res));
  });

  return r;
}
