/**
 * HTTP errors and the one error middleware that maps them to
 * `{ "error": { "code", "message", "details"? } }`. Nothing here exits the process.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { z } from 'zod';

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

/** 429: a limit of the caller's (requests per window, runs at once); try again after `retryAfterS`. */
export class TooManyRequestsError extends HttpError {
  constructor(code: string, message: string, retryAfterS: number, details?: unknown) {
    super(429, code, message, details, { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterS))) });
    this.name = 'TooManyRequestsError';
  }
}

/** 409: the run cannot do that in its current state (closed, not started, not waiting). */
export const conflict = (code: string, message: string, details?: unknown) => new HttpError(409, code, message, details);

export const notFound = (what: string) => new HttpError(404, 'not_found', `${what} not found`);

/** A dependency (Redis, Temporal, S3) is unavailable: 503, try again later. */
export class UnavailableError extends HttpError {
  constructor(dependency: string, cause?: unknown) {
    super(503, 'unavailable', `${dependency} is unavailable, try again shortly`);
    this.cause = cause;
  }
}

/**
 * 503 for a start whose outcome is unknown (the call failed and Temporal cannot say whether
 * the workflow exists). The record stays `queued`; an Idempotency-Key keeps the run id.
 */
export class StartOutcomeUnknownError extends UnavailableError {
  readonly runId: string;
  constructor(runId: string, cause: unknown) {
    super('Temporal', cause);
    this.name = 'StartOutcomeUnknownError';
    this.runId = runId;
  }
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
    if (err instanceof HttpError) e = err;
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
