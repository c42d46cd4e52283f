/** The queue facade over HTTP (operators): counts and ages of the jobs:* lists, the dead-letter view and its retry, the tool breakers (work:backoff) and their reset. */
import { Router } from 'express';
import { z } from 'zod';
import { actorOf, callerOf } from './auth.ts';
import { HttpError, parseOr400 } from './errors.ts';
import type { ToolBreaker } from '../infra/breaker.ts';
import type { QueueService } from '../ingress/index.ts';

export const listQuery = z.object({ limit: z.coerce.number({ error: 'must be a whole number from 1 to 1000' }).int().min(1).max(1000).default(100) }).loose();

export function createQueueRouter(service: QueueService, breaker?: ToolBreaker): Router {
  const r = Router();
  r.get('/', async (_req, res) => {
    res.json(await service.stats());
  });
  r.get('/failed', async (req, res) => {
    const { limit } = parseOr400(listQuery, req.query, 'query');
    const entries = await service.failed(limit);
    res.json({
      entries: entries.map((e) => ({
        id: e.id, runId: e.run_id ?? null, source: e.source, reason: e.reason, failedAt: e.failed_at,
        enqueuedAt: e.enqueued_at ?? null, priority: e.priority ?? null, retryCount: e.retry_count ?? 0, retryOf: e.retry_of ?? null,
        ...(e.job === undefined ? {} : { job: e.job }),
        links: { retry: `/v1/queue/failed/${encodeURIComponent(e.id)}/retry`, ...(e.source === 'run' && e.run_id ? { run: `/v1/runs/${e.run_id}` } : {}) },
      })),
    });
  });
  r.post('/failed/:id/retry', async (req, res) => {
    const out = await service.retry(req.params.id, actorOf(callerOf(res)));
    res.status(202).json({ ...out, links: out.runId ? { run: `/v1/runs/${out.runId}`, events: `/v1/runs/${out.runId}/events` } : {} });
  });
  if (breaker) {
    r.get('/breakers', async (_req, res) => {
      res.json({ breakers: await breaker.list() });
    });
    r.delete('/breakers/:userId/:tool', async (req, res) => {
      if (!(await breaker.reset(req.params.userId, req.params.tool))) throw new HttpError(404, 'not_found', `no breaker for ${req.params.tool} of ${req.params.userId}`);
      res.json({ userId: req.params.userId, tool: req.params.tool, reset: true });
    });
  }
  return r;
}
