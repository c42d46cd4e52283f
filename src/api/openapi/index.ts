/**
 * The API's OpenAPI 3.1 document, served at `GET /openapi.json` (no credentials needed).
 *
 * Request bodies and query parameters come from the routes' own zod schemas
 * (`z.toJSONSchema`, io `input`), so the document says what the routes validate. Responses
 * are described by the zod schemas of ./schemas.ts, written from what the routes send;
 * test/e2e/openapi.test.ts checks the answers of a running API against them. The paths are
 * in ./paths.ts, the building blocks in ./operations.ts. Pure: the document is built once,
 * when the app is composed.
 */
import type { RequestHandler } from 'express';
import { z } from 'zod';
import { apiPaths } from './paths.ts';
import type { OpenApiOptions } from './paths.ts';
import { ACCOUNT_REQUEST_SCHEMAS, ACCOUNT_RESPONSE_SCHEMAS, accountPaths } from './accounts.ts';
import { CALLER_SECURITY, headerRef, pathParam, problem, toComponents } from './operations.ts';
import type { JsonObject } from './operations.ts';
import { RESPONSE_SCHEMAS } from './schemas.ts';
import { approveBody, createRunBody, forkBody, messageBody } from '../runs-routes.ts';
import { actionOnly, runIdBody, seedCreateBody } from '../seed-routes.ts';
import { legacyJob } from '../../shared/queue.ts';

export type { OpenApiOptions } from './paths.ts';

export const OPENAPI_VERSION = '3.1.1';

/** The OpenAPI 3.1 document of the API as createApp composes it with these options. */
export function buildOpenApiDocument(opts: OpenApiOptions): JsonObject {
  const responseSchemas = toComponents({ ...RESPONSE_SCHEMAS, ...ACCOUNT_RESPONSE_SCHEMAS }, 'output');
  const requestSchemas = toComponents({
    CreateRunRequest: createRunBody(opts.promptMaxChars),
    ApproveRequest: approveBody,
    MessageRequest: messageBody,
    ForkRequest: forkBody,
    SeedExecuteRequest: z.discriminatedUnion('action', [
      seedCreateBody(opts.promptMaxChars).extend({ action: z.literal('create') }),
      runIdBody.extend({ action: actionOnly.shape.action.exclude(['create']) }),
    ]).describe('The seeds\' request: `create` takes a prompt, the other actions a `run_id`; other fields are ignored'),
    LegacyJob: legacyJob.describe('A job as the seeds\' producers push it onto jobs:pending'),
    ...ACCOUNT_REQUEST_SCHEMAS,
  }, 'input');

  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: 'agentrun',
      version: 'v1',
      description: [
        'Durable AI agent runs on Temporal: start a run, follow its events, control it, read its workspace.',
        `Every error is JSON \`{"error": {"code", "message", "details"?}}\`. JSON bodies are at most ${opts.bodyMaxBytes} bytes; prompts at most ${opts.promptMaxChars} characters.`,
        'Callers send a JWT or an API key (`ak_…`); with AUTH_MODE=none (the laptop demo) every request acts as DEFAULT_USER_ID and needs none. A run of another user is 404, as one that does not exist.',
      ].join('\n\n'),
    },
    tags: [
      { name: 'runs', description: 'Runs of the caller' },
      { name: 'accounts', description: 'Credits and limits: the caller\'s own, and any user\'s for operators (AUTH_OPERATORS)' },
      { name: 'seed', description: 'The seeds\' endpoints, kept so their clients work unchanged (snake_case fields)' },
      ...(opts.queue ? [{ name: 'queue', description: 'The queue facade, for operators (AUTH_OPERATORS)' }] : []),
      { name: 'ops', description: 'Health, readiness, metrics: no credentials' },
    ],
    security: CALLER_SECURITY,
    paths: { ...apiPaths(opts), ...accountPaths() },
    components: {
      schemas: { ...requestSchemas, ...responseSchemas },
      responses: {
        BadRequest: problem('The request is malformed: the message names the first bad field (`invalid_request`), the body is not JSON (`invalid_json`), or a path is unsafe (`invalid_path`)'),
        Unauthorized: problem('Missing or bad credentials (`missing_credentials`, `invalid_token`, `invalid_api_key`)', { 'WWW-Authenticate': headerRef('WWW-Authenticate') }),
        Forbidden: problem('The caller may not use this route (`forbidden`)'),
        NotFound: problem('No such run of the caller, file, entry or user (`not_found`, `file_not_found`, `workspace_not_found`, `unknown_user`)'),
        Conflict: problem('Not in the run\'s current state (`run_closed`, `run_not_started`, `not_awaiting_approval`, `run_not_retryable`, `already_retried`), or a deduction past the balance (`insufficient_credits`)'),
        Gone: problem('The workspace to reuse was deleted by the retention policy (`workspace_deleted`)'),
        PayloadTooLarge: problem(`The body is larger than ${opts.bodyMaxBytes} bytes (\`body_too_large\`)`),
        UnsupportedMediaType: problem('The body is not application/json, or in an unsupported charset or encoding (`unsupported_media_type`, `unsupported_encoding`)'),
        IdempotencyKeyReused: problem('The Idempotency-Key was used with a different body (`idempotency_key_reused`)'),
        TooManyRequests: problem('Too many requests (`rate_limited`), runs going at once (`too_many_active_runs`) or event streams open (`too_many_streams`)', {
          'Retry-After': headerRef('Retry-After'), 'RateLimit-Limit': headerRef('RateLimit-Limit'), 'RateLimit-Remaining': headerRef('RateLimit-Remaining'), 'RateLimit-Reset': headerRef('RateLimit-Reset'),
        }),
        InternalError: problem('An unexpected failure (`internal`); it is logged'),
        Unavailable: problem('A dependency (Temporal, Redis, the database, S3, the token issuer) is unavailable (`unavailable`), or this server holds its maximum of event streams (`server_busy`); try again', { 'Retry-After': headerRef('Retry-After') }),
      },
      parameters: {
        RunId: pathParam('id', 'A run id of the caller'),
      },
      headers: {
        'Location': { description: 'The run\'s URL', schema: { type: 'string' } },
        'Idempotent-Replayed': { description: '`true` when this is the stored answer of an earlier request with the same Idempotency-Key', schema: { type: 'string', enum: ['true'] } },
        'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 1 } },
        'RateLimit-Limit': { description: 'Requests allowed per window', schema: { type: 'integer' } },
        'RateLimit-Remaining': { description: 'Requests left in this window', schema: { type: 'integer' } },
        'RateLimit-Reset': { description: 'Seconds until the window resets', schema: { type: 'integer' } },
        'WWW-Authenticate': { description: 'The Bearer challenge (RFC 6750)', schema: { type: 'string' } },
        'Content-Disposition': { description: '`attachment; filename*=UTF-8\'\'…`', schema: { type: 'string' } },
        'ETag': { schema: { type: 'string' } },
        'Last-Modified': { schema: { type: 'string' } },
      },
      securitySchemes: {
        bearerJwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT (HS256 with AUTH_JWT_SECRET, or keys from AUTH_JWKS_URL); `sub` is the user id' },
        bearerApiKey: { type: 'http', scheme: 'bearer', bearerFormat: 'ak_…', description: 'A static API key of a service caller (AUTH_API_KEYS), as a bearer token' },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'The same API key in its own header' },
        accessTokenQuery: { type: 'apiKey', in: 'query', name: 'access_token', description: 'The JWT or API key as a query parameter: event streams only (browsers\' EventSource cannot send headers)' },
      },
    },
  };
}

/** GET /openapi.json: the document, built once when the app is composed. */
export function serveOpenApi(opts: OpenApiOptions): RequestHandler {
  const body = JSON.stringify(buildOpenApiDocument(opts));
  return (_req, res) => {
    res.type('application/json').send(body);
  };
}
