/** The HTTP face: a thin composition of routers, the policies every answer gets, and one error middleware. */
import express from 'express';
import type { Logger } from 'pino';
import { meRouter, seeCaller, usersRouter } from './account-routes.ts';
import { requireCaller, requireOperator } from './auth.ts';
import type { Authenticator } from './auth.ts';
import { errorMiddleware, jsonNotFound } from './errors.ts';
import type { EventHub } from './event-hub.ts';
import { cors, securityHeaders } from './http-policy.ts';
import type { IdempotencyStore } from './idempotency.ts';
import { serveOpenApi } from './openapi/index.ts';
import { createOpsRouter } from './ops-routes.ts';
import type { OpsDeps } from './ops-routes.ts';
import { createQueueRouter } from './queue-routes.ts';
import type { RateLimiter } from './rate-limit.ts';
import { runsRouter } from './runs-routes.ts';
import { webRouter } from './web-routes.ts';
import { seedRouter } from './seed-routes.ts';
import { SseLimits } from './sse-limits.ts';
import type { OpenStreams } from './open-streams.ts';
import type { AccountsService } from '../accounts/index.ts';
import type { ToolBreaker } from '../infra/breaker.ts';
import type { EventLog } from '../infra/event-log.ts';
import type { QueueService } from '../ingress/index.ts';
import type { RunsService } from '../runs/index.ts';
import type { Config } from '../shared/config.ts';

export interface AppDeps {
  /** The server span of each request (src/infra/tracing.ts), first of all; absent when tracing is off. */
  tracing?: express.RequestHandler;
  /** /readyz and the request-latency middleware (src/api/ops-routes.ts); /metrics is served apart (src/api/metrics.ts). */
  ops?: OpsDeps & { metricsMiddleware?: express.RequestHandler };
  /** The queue facade under /v1/queue (src/api/queue-routes.ts); operators only (AUTH_OPERATORS). */
  queue?: QueueService;
  runs: RunsService;
  /** The tool breakers (work:backoff): shown in /v1/me and /v1/queue/breakers, reset by operators. */
  breaker?: ToolBreaker;
  /** Accounts: GET /v1/me, the operators' /v1/users routes, and each caller made known on first sight. */
  accounts: AccountsService;
  hub: EventHub;
  events: EventLog;
  /** Who is calling (JWT, API key, or AUTH_MODE=none). */
  auth: Authenticator;
  /** Per-user request rate, in Redis. */
  rateLimiter: RateLimiter;
  /** Idempotency-Key of POST /v1/runs, in Redis. */
  idempotency: IdempotencyStore;
  config: Config['api'];
  log: Logger;
  /** Open event streams, so the process can end them when it stops (src/api/main.ts). */
  streams?: OpenStreams;
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  if (deps.tracing) app.use(deps.tracing);
  if (deps.ops?.metricsMiddleware) app.use(deps.ops.metricsMiddleware);
  app.set('trust proxy', false);
  app.use(securityHeaders(), cors(deps.config.corsOrigins));

  app.get('/healthz', (_req, res) => { res.json({ ok: true }); });
  // The web page and its assets: no credentials (it signs in itself), a CSP of its own.
  app.use(webRouter({ page: deps.config.page, authMode: deps.auth.mode }));
  app.get('/openapi.json', serveOpenApi({ ...deps.config, readyz: deps.ops !== undefined, queue: deps.queue !== undefined }));
  if (deps.ops) app.use(createOpsRouter(deps.ops));
  /** Authenticated and rate-limited: the caller is `callerOf(res)` in the routes. */
  const asCaller = [requireCaller(deps.auth), deps.rateLimiter.middleware(), seeCaller(deps.accounts, deps.log)];
  if (deps.queue) app.use('/v1/queue', ...asCaller, requireOperator(deps.auth), createQueueRouter(deps.queue, deps.breaker));
  const routes = { ...deps, sseLimits: new SseLimits(deps.config.sseLimits) };
  app.use('/v1/runs', ...asCaller, runsRouter(routes));
  app.use('/v1/me', ...asCaller, meRouter(deps.accounts));
  app.use('/v1/users', ...asCaller, usersRouter(deps.accounts, deps.auth));
  app.use('/agent', ...asCaller, seedRouter(routes));

  app.use(jsonNotFound);
  app.use(errorMiddleware(deps.log));
  return app;
}
