/**
 * HTTP errors, the one table mapping domain errors (src/runs, src/ingress) to HTTP, and
 * the one error middleware that answers both as `{ "error": { "code", "message",
 * "details"? } }`. Nothing here exits the process.
 */
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { IdempotencyKeyReused, NotEnoughCredits, UnknownUser } from '../accounts/errors.ts';
import { AlreadyRetried, DeadLetterNotFound, SigningUnavailable } from '../ingress/errors.ts';
import {
  AtRunLimit, ExtraCreditsNotApplicable, FileNotFound, InvalidInput, InvalidPath, NotAwaitingApproval, NotForkable, RunClosed, RunNotFound, RunNotRetryable, RunNotStarted, RunsError,
  Unavailable, WorkspaceDeleted, WorkspaceNotFound,
} from '../runs/errors.ts';

/** An error with an HTTP status and a stable machine-readable code. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details?: unknown;
  /** Extra response headers (`Retry-After`, `WWW-Authenticate`, …). */
  readonly headers?: Readonly<Record<string, string>>;
  constructor(status: number, code: string, message: string, details?: unknown, headers?: Record<string, string>) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.headers = headers;
  }
}

/** The Retry-After header: whole seconds, at least 1. */
const retryAfter = (seconds: number) => ({ 'Retry-After': String(Math.max(1, Math.ceil(seconds))) });

/** 429: a limit of the caller's (requests per window, runs at once); try again after `retryAfterS`. */
export class TooManyRequestsError extends HttpError {
  constructor(code: string, message: string, retryAfterS: number, details?: unknown) {
    super(429, code, message, details, retryAfter(retryAfterS));
    this.name = 'TooManyRequestsError';
  }
}

type ErrorClass<E extends RunsError> = abstract new (...args: never[]) => E;

/** How one domain error class is answered: its status, and what its fields add (details, headers). The code is the error's own. */
interface HttpMapping<E extends RunsError = RunsError> {
  error: ErrorClass<E>;
  status: number;
  details?: (e: E) => unknown;
  headers?: (e: E) => Record<string, string>;
}

const row = <E extends RunsError>(m: HttpMapping<E>) => m as unknown as HttpMapping;

/**
 * The one table from domain errors (src/runs, src/ingress) to HTTP answers: the first row
 * whose class the error is an instance of (a subclass such as StartOutcomeUnknown answers as
 * its base, Unavailable). The JSON code is the error's `code`.
 */
export const DOMAIN_ERRORS: readonly HttpMapping[] = [
  row({ error: RunNotFound, status: 404 }),
  row({ error: DeadLetterNotFound, status: 404 }),
  row({ error: FileNotFound, status: 404 }),
  row({ error: WorkspaceNotFound, status: 404 }),
  row({ error: UnknownUser, status: 404 }),
  row({ error: WorkspaceDeleted, status: 410 }),
  row({ error: InvalidInput, status: 400 }),
  row({ error: InvalidPath, status: 400 }),
  row({ error: RunClosed, status: 409, details: (e) => (e.status === undefined ? undefined : { status: e.status }) }),
  row({ error: RunNotStarted, status: 409, details: (e) => ({ status: e.status }) }),
  row({ error: NotAwaitingApproval, status: 409, details: (e) => ({ status: e.status }) }),
  row({ error: ExtraCreditsNotApplicable, status: 409, details: (e) => ({ waitingFor: e.waitingFor }) }),
  row({ error: RunNotRetryable, status: 409, details: (e) => (e.from === 'run' ? { status: e.status } : undefined) }),
  row({ error: AlreadyRetried, status: 409 }),
  row({ error: NotForkable, status: 409 }),
  row({ error: NotEnoughCredits, status: 409, details: (e) => ({ available: e.available }) }),
  row({ error: IdempotencyKeyReused, status: 422 }),
  row({ error: AtRunLimit, status: 429, details: (e) => ({ active: e.active, limit: e.limit }), headers: (e) => retryAfter(e.retryAfterS) }),
  row({ error: SigningUnavailable, status: 503 }),
  row({ error: Unavailable, status: 503 }),
];

/** The HTTP answer for a domain error; undefined for any other error. */
export function httpErrorOf(err: unknown): HttpError | undefined {
  if (!(err instanceof RunsError)) return undefined;
  const m = DOMAIN_ERRORS.find((r) => err instanceof r.error);
  if (!m) return undefined;
  const e = new HttpError(m.status, err.code, err.message, m.details?.(err), m.headers?.(err));
  e.cause = err.cause;
  return e;
}

/** Turns a zod failure into a 400 whose message names the first bad field. */
export function validationError(err: z.ZodError, where: string): HttpError {
  const details = err.issues.map((i) => ({ field: i.path.join('.') || where, message: i.message }));
  const first = details[0]!;
  return new HttpError(400, 'invalid_request', `${first.field}: ${first.message}`, details);
}

export function parseOr400<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw validationError(r.error, where);
  return r.data;
}

/** The JSON body of a POST or PUT, when one is needed or given; 415 for another content type. */
export function jsonBody(req: Request, required: boolean): unknown {
  const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  if (!hasBody) {
    if (required) throw new HttpError(415, 'unsupported_media_type', 'body must be application/json');
    return {};
  }
  if (!req.is('application/json')) throw new HttpError(415, 'unsupported_media_type', 'body must be application/json');
  return req.body as unknown;
}

export const jsonNotFound: RequestHandler = (req, _res, next) => {
  next(new HttpError(404, 'not_found', `no route for ${req.method} ${req.path}`));
};

export function errorMiddleware(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      // Too late for an error answer (a stream or download under way): say why, then cut the response.
      log.error({ err, method: req.method, path: req.path }, 'request failed after the response started');
      next(err);
      return;
    }
    let e: HttpError;
    const bodyParser = err as { type?: string; status?: number; message?: string };
    const domain = httpErrorOf(err);
    if (domain) e = domain;
    else if (err instanceof HttpError) e = err;
    else if (bodyParser?.type === 'entity.parse.failed') e = new HttpError(400, 'invalid_json', `body is not valid JSON: ${bodyParser.message ?? ''}`.trim());
    else if (bodyParser?.type === 'entity.too.large') e = new HttpError(413, 'body_too_large', 'request body is larger than the server accepts');
    else if (bodyParser?.type === 'charset.unsupported' || bodyParser?.type === 'encoding.unsupported') e = new HttpError(415, 'unsupported_encoding', bodyParser.message ?? 'unsupported encoding');
    else if (typeof bodyParser?.status === 'number' && bodyParser.status >= 400 && bodyParser.status < 500) {
      // The router's own refusals (e.g. a URL parameter that is not valid percent-encoding).
      e = new HttpError(bodyParser.status, 'invalid_request', bodyParser.message ?? 'invalid request');
    } else {
      log.error({ err, method: req.method, path: req.path }, 'request failed');
      e = new HttpError(500, 'internal', 'internal error');
    }
    if (e.status >= 500 && e.status !== 500) log.warn({ code: e.code, path: req.path, cause: (e.cause as Error | undefined)?.message }, e.message);
    if (e.status === 503) res.setHeader('Retry-After', '2');
    for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
    res.status(e.status).json({ error: { code: e.code, message: e.message, ...(e.details === undefined ? {} : { details: e.details }) } });
  };
}
