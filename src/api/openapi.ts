/**
 * The API's OpenAPI 3.1 document, served at `GET /openapi.json` (no credentials needed).
 *
 * Request bodies and query parameters come from the routes' own zod schemas
 * (`z.toJSONSchema`, io `input`), so the document says what the routes validate. Responses
 * are described by the zod schemas below, written from what the routes send;
 * test/e2e/openapi.test.ts checks the answers of a running API against them. Pure: the
 * document is built once, when the app is composed.
 */
import type { RequestHandler } from 'express';
import { z } from 'zod';
import { IDEMPOTENCY_KEY_RE } from './idempotency.ts';
import { listQuery as failedListQuery } from './queue-routes.ts';
import { approveBody, createRunBody, filesQuery, listQuery as runListQuery, messageBody } from './runs-routes.ts';
import { CONTROL_ACTIONS } from '../runs/model.ts';
import { actionOnly, runIdBody, seedCreateBody } from './seed-routes.ts';
import { RUN_ID_RE } from '../shared/names.ts';
import { failureReason, legacyJob, QUEUE_NAMES } from '../shared/queue.ts';
import { EVENT_TYPES, plan, planStep, RUN_STATUSES, TOOL_NAMES } from '../shared/run.ts';
import type { ToolName } from '../shared/run.ts';

export const OPENAPI_VERSION = '3.1.1';

type JsonObject = Record<string, unknown>;

// ---- Response shapes, as the routes send them ----------------------------------------------

const isoTime = z.iso.datetime();
const runId = z.string().regex(RUN_ID_RE).describe('A run id, also its Temporal workflow id');
const runStatus = z.enum(RUN_STATUSES).describe('Where the run is: `completed`, `failed` and `cancelled` are final; `created` is a seed-flow run not started yet');
const runLinks = z.object({ self: z.string(), events: z.string(), files: z.string() }).describe('Where to read, follow and browse the run');
const failure = failureReason.describe('Why something failed: a stable code and a human message');
const usage = z.object({ credits: z.number().min(0).describe('Credits charged so far') });

const stepResult = z.object({
  index: z.number().int().min(0).describe('Execution number within the run (retries and replanned steps get new ones)'),
  planIndex: z.number().int().min(0).optional().describe('Position in the plan at the time'),
  tool: z.enum(TOOL_NAMES as [ToolName, ...ToolName[]]),
  ok: z.boolean(),
  summary: z.string().describe('Short human summary; large outputs stay in the workspace'),
  exitCode: z.number().int().optional(),
  durationMs: z.number().min(0),
});

const runView = z.object({
  id: runId,
  userId: z.string(),
  status: runStatus,
  plan: plan.optional().describe('Absent until the run has planned'),
  steps: z.array(stepResult).describe('The most recent step executions (older ones are in the workspace and the database)'),
  currentStep: z.number().int().min(0).optional(),
  error: failure.optional(),
  usage,
  createdAt: isoTime,
  closedAt: isoTime.optional(),
  links: runLinks,
}).describe('A run as its workflow reports it (a workflow query), with the usage from its record');

const runSummary = z.object({
  id: runId,
  status: runStatus,
  priority: z.number().int().describe('1 (first) … 5 (last)'),
  promptPreview: z.string().max(200),
  error: failure.optional(),
  usage,
  createdAt: isoTime,
  updatedAt: isoTime,
  startedAt: isoTime.optional(),
  finishedAt: isoTime.optional(),
  links: runLinks,
}).describe('A run as the list shows it: from its record, no workflow query');

const nextCursor = z.string().nullable().describe('Pass back as `cursor` for the next page; null on the last page');
const runPage = z.object({ runs: z.array(runSummary).describe('Newest first'), nextCursor });
const runAccepted = z.object({ id: runId, status: runStatus, links: runLinks });
const controlAccepted = z.object({
  id: runId,
  action: z.enum(CONTROL_ACTIONS),
  accepted: z.literal(true),
  status: runStatus.describe('The run\'s status when the control was sent'),
  links: runLinks,
});

const workspaceFile = z.object({
  path: z.string().describe('Relative to the workspace root'),
  size: z.number().int().min(0).describe('Bytes'),
  lastModified: isoTime.optional(),
  etag: z.string().optional(),
  contentType: z.string(),
});
const filePage = z.object({
  runId,
  workspaceId: runId.describe('The run whose workspace this is (an earlier run\'s when the run reused it)'),
  files: z.array(workspaceFile).describe('In key order'),
  nextCursor,
});

const seedCreated = z.object({ run_id: runId, status: z.literal('created'), links: runLinks });
const seedStarted = z.object({ run_id: runId, status: runStatus, started: z.boolean().describe('false when the run had been started before'), links: runLinks });
const seedStopping = z.object({ run_id: runId, status: z.literal('cancelling'), links: runLinks });
const seedRetried = z.object({ run_id: runId.describe('The new run'), retry_of: runId, status: runStatus, links: runLinks });
const seedStatus = runView.omit({ id: true }).extend({ run_id: runId }).describe('The run as GET /v1/runs/{id} shows it, with `run_id` for `id`');

const queueDepth = z.object({
  count: z.number().int().min(0),
  oldestAgeS: z.number().min(0).nullable().describe('Seconds since the oldest entry entered the list; null when it is empty or the entry carries no time'),
});
const queueStats = z.object({
  queues: z.object(Object.fromEntries(QUEUE_NAMES.map((q) => [q, queueDepth]))).describe('One entry per jobs:* list (with QUEUE_KEY_PREFIX)'),
  at: isoTime,
});
const failedEntry = z.object({
  id: z.string().describe('The run id for runs, `dlq_…` or `raw_…` for ingress entries that name no usable run'),
  runId: z.string().nullable(),
  source: z.enum(['run', 'ingress']),
  reason: failure,
  failedAt: z.iso.datetime({ offset: true }).nullable().describe('ISO 8601; null for an entry agentrun did not write'),
  enqueuedAt: z.string().nullable().describe('As the producer wrote it'),
  priority: z.number().int().nullable(),
  retryCount: z.number().int().min(0),
  retryOf: z.string().nullable(),
  job: z.string().optional()
    .meta({ description: 'The original ingress entry, verbatim (ingress failures only)', contentMediaType: 'application/json', contentSchema: { $ref: '#/components/schemas/LegacyJob' } }),
  links: z.object({ retry: z.string(), run: z.string().optional() }),
});
const failedPage = z.object({ entries: z.array(failedEntry).describe('Newest first') });
const retryOutcome = z.object({
  id: z.string(),
  status: z.literal('requeued'),
  runId: z.string().optional().describe('The run that will be started: a new run repeating a failed one, or the ingress entry\'s own run'),
  retryOf: runId.optional(),
  links: z.object({ run: z.string().optional(), events: z.string().optional() }),
});

const health = z.object({ ok: z.literal(true) });
/** Up or down only: why a dependency is down goes to the server log, not to anonymous callers. */
const readinessCheck = z.object({ ok: z.boolean(), ms: z.number().min(0) }).strict();
const ready = z.object({ status: z.literal('ready'), checks: z.record(z.string(), readinessCheck) });
const notReady = z.object({ status: z.literal('unavailable'), down: z.array(z.string()).min(1), checks: z.record(z.string(), readinessCheck) });

const errorBody = z.object({
  error: z.object({
    code: z.string().describe('Stable, machine-readable: `invalid_request`, `not_found`, `run_closed`, …'),
    message: z.string().describe('Names the problem (for a bad field: `field: what is wrong`)'),
    details: z.unknown().optional().describe('More context: the field errors of a 400, the run status of a 409, …'),
  }),
}).describe('Every error answer of the API');

const openApiDocument = z.object({
  openapi: z.string().regex(/^3\.1\.\d+$/),
  info: z.object({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.record(z.string(), z.unknown())),
});

// ---- Conversion -----------------------------------------------------------------------------

const schemaRef = (id: string) => `#/components/schemas/${id}`;
const ref = (id: string) => ({ $ref: schemaRef(id) });

/** Drops what zod adds that says nothing to a reader: safe-integer bounds, the date-time regex, open objects' `{}`. */
function tidy(io: 'input' | 'output') {
  return ({ zodSchema, jsonSchema }: { zodSchema: z.core.$ZodTypes; jsonSchema: JsonObject }) => {
    if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
    if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
    if (jsonSchema.format === 'date-time') delete jsonSchema.pattern;
    const extra = jsonSchema.additionalProperties;
    if (extra !== null && typeof extra === 'object' && Object.keys(extra).length === 0) delete jsonSchema.additionalProperties;
    // An answer lists the fields it always carries; a later version may add more. Only a strict schema is closed.
    if (io === 'output' && extra === false && zodSchema._zod.def.type === 'object' && zodSchema._zod.def.catchall === undefined) {
      delete jsonSchema.additionalProperties;
    }
  };
}

/** Named zod schemas → components.schemas, referring to each other by `$ref`. */
function toComponents(named: Record<string, z.ZodType>, io: 'input' | 'output'): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, { target: 'draft-2020-12', io, uri: schemaRef, override: tidy(io) });
  const out: Record<string, JsonObject> = {};
  for (const [id, { $schema: _s, $id: _i, ...schema }] of Object.entries(schemas)) out[id] = schema;
  return out;
}

/** The query parameters a route's zod query schema accepts; `extra` adds descriptions or replaces entries. */
function queryParameters(schema: z.ZodObject, extra: Record<string, JsonObject> = {}): JsonObject[] {
  const js = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', override: tidy('input') }) as { properties?: Record<string, JsonObject>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({ name, in: 'query', required: js.required?.includes(name) ?? false, schema: s, ...extra[name] }));
}

// ---- The document ---------------------------------------------------------------------------

export interface OpenApiOptions {
  /** API_PROMPT_MAX_CHARS: the longest prompt the run bodies accept. */
  promptMaxChars: number;
  /** API_BODY_MAX_BYTES: larger JSON bodies are 413. */
  bodyMaxBytes: number;
  /** Which of createApp's optional routes are mounted: /readyz, /v1/queue*. (/metrics has a listener of its own: API_METRICS_PORT.) */
  readyz?: boolean;
  queue?: boolean;
}

const ERROR_RESPONSES = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict', 410: 'Gone',
  413: 'PayloadTooLarge', 415: 'UnsupportedMediaType', 422: 'IdempotencyKeyReused', 429: 'TooManyRequests',
  500: 'InternalError', 503: 'Unavailable',
} as const;
type ErrorStatus = keyof typeof ERROR_RESPONSES;

const json = (schema: JsonObject, description: string, headers?: JsonObject) => ({
  description, ...(headers ? { headers } : {}), content: { 'application/json': { schema } },
});
const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });
const problem = (description: string, headers?: JsonObject) => json(ref('Error'), description, headers);

interface OperationSpec {
  id: string;
  tag: string;
  summary: string;
  description?: string;
  parameters?: JsonObject[];
  body?: JsonObject;
  /** Success answers by status. */
  ok: Record<number, JsonObject>;
  /** Error answers besides the ones every operation of its kind has. */
  errors?: ErrorStatus[];
  /** No credentials, no rate limit (ops endpoints). */
  open?: boolean;
  /** An event stream: also takes `?access_token=`. */
  stream?: boolean;
}

const CALLER_SECURITY = [{ bearerJwt: [] }, { bearerApiKey: [] }, { apiKeyHeader: [] }];

function operation(spec: OperationSpec): JsonObject {
  // Authenticated routes also answer 401 (credentials), 429 (rate limit) and 503 (JWKS unreachable); every route may 500.
  const errorCodes = new Set<ErrorStatus>([...(spec.errors ?? []), ...(spec.open ? [] : [401, 429, 503] as const), 500]);
  const responses: [string, JsonObject][] = [
    ...Object.entries(spec.ok),
    ...[...errorCodes].map((c): [string, JsonObject] => [String(c), { $ref: `#/components/responses/${ERROR_RESPONSES[c]}` }]),
  ];
  responses.sort(([a], [b]) => Number(a) - Number(b));
  return {
    tags: [spec.tag],
    operationId: spec.id,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    ...(spec.parameters ? { parameters: spec.parameters } : {}),
    ...(spec.body ? { requestBody: spec.body } : {}),
    responses: Object.fromEntries(responses),
    ...(spec.open ? { security: [] } : spec.stream ? { security: [...CALLER_SECURITY, { accessTokenQuery: [] }] } : {}),
  };
}

const pathParam = (name: string, description: string) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } });
const RUN_ID_PARAM = { $ref: '#/components/parameters/RunId' };

const jsonBody = (schema: JsonObject, required: boolean, description?: string) => ({
  required, ...(description ? { description } : {}), content: { 'application/json': { schema } },
});
const IGNORED_BODY = jsonBody({}, false, 'Not needed; a JSON body, if sent, is ignored (another content type is 415)');

const SSE_EVENTS = `\`retry:\` first, then events \`${EVENT_TYPES.join('`, `')}\` (JSON \`data\`, \`id\` = the Redis stream entry id); \`gap\` when older events came from the archive or were lost; \`: heartbeat\` comments while idle. A run recorded but not started yet (the seeds' \`create\`) gets a \`: not started\` comment and the stream waits for it; a run that ended without ever starting gets one \`end\` with \`started: false\`. The response ends after \`end\`.`;
const eventStream = {
  description: `The run's events: a replay after Last-Event-ID, then live. ${SSE_EVENTS}`,
  content: { 'text/event-stream': { schema: { type: 'string' } } },
};
const streamParameters = [
  { name: 'Last-Event-ID', in: 'header', required: false, description: 'Resume after this event id', schema: { type: 'string', pattern: '^\\d{1,20}-\\d{1,20}$' } },
  { name: 'lastEventId', in: 'query', required: false, description: 'As Last-Event-ID, for clients that cannot send headers', schema: { type: 'string', pattern: '^\\d{1,20}-\\d{1,20}$' } },
];

/** The OpenAPI 3.1 document of the API as createApp composes it with these options. */
export function buildOpenApiDocument(opts: OpenApiOptions): JsonObject {
  const responseSchemas = toComponents({
    RunStatus: runStatus, RunLinks: runLinks, Failure: failure, Usage: usage, StepResult: stepResult, PlanStep: planStep, Plan: plan,
    RunView: runView, RunSummary: runSummary, RunPage: runPage, RunAccepted: runAccepted, ControlAccepted: controlAccepted,
    WorkspaceFile: workspaceFile, FilePage: filePage,
    SeedCreated: seedCreated, SeedStarted: seedStarted, SeedStopping: seedStopping, SeedRetried: seedRetried, SeedStatus: seedStatus,
    QueueDepth: queueDepth, QueueStats: queueStats, FailedEntry: failedEntry, FailedPage: failedPage, RetryOutcome: retryOutcome,
    Health: health, ReadinessCheck: readinessCheck, Ready: ready, NotReady: notReady, Error: errorBody, OpenApiDocument: openApiDocument,
  }, 'output');
  const requestSchemas = toComponents({
    CreateRunRequest: createRunBody(opts.promptMaxChars),
    ApproveRequest: approveBody,
    MessageRequest: messageBody,
    SeedExecuteRequest: z.discriminatedUnion('action', [
      seedCreateBody(opts.promptMaxChars).extend({ action: z.literal('create') }),
      runIdBody.extend({ action: actionOnly.shape.action.exclude(['create']) }),
    ]).describe('The seeds\' request: `create` takes a prompt, the other actions a `run_id`; other fields are ignored'),
    LegacyJob: legacyJob.describe('A job as the seeds\' producers push it onto jobs:pending'),
  }, 'input');

  const runPaths: Record<string, JsonObject> = {
    '/v1/runs': {
      post: operation({
        id: 'createRun', tag: 'runs', summary: 'Start a run',
        description: 'The run id is the workflow id. With an Idempotency-Key, the same key and body again (also concurrently) get the first answer and one run; another body under the key is 422.',
        parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', pattern: IDEMPOTENCY_KEY_RE.source } }],
        body: jsonBody(ref('CreateRunRequest'), true),
        ok: { 202: json(ref('RunAccepted'), 'The run is queued', { Location: headerRef('Location'), 'Idempotent-Replayed': headerRef('Idempotent-Replayed') }) },
        errors: [400, 404, 410, 413, 415, 422],
      }),
      get: operation({
        id: 'listRuns', tag: 'runs', summary: 'The caller\'s runs, newest first',
        description: 'Unknown query parameters are 400.',
        parameters: queryParameters(runListQuery, {
          limit: { description: 'Runs per page' },
          status: { description: 'Only runs in one of these statuses (comma-separated)', style: 'form', explode: false, schema: { type: 'array', minItems: 1, items: ref('RunStatus') } },
          cursor: { description: '`nextCursor` of the previous page, unchanged' },
        }),
        ok: { 200: json(ref('RunPage'), 'One page of runs') },
        errors: [400],
      }),
    },
    '/v1/runs/{id}': {
      parameters: [RUN_ID_PARAM],
      get: operation({ id: 'getRun', tag: 'runs', summary: 'A run: status, plan, recent steps, error, usage', ok: { 200: json(ref('RunView'), 'The run') }, errors: [400, 404] }),
    },
    '/v1/runs/{id}/events': {
      parameters: [RUN_ID_PARAM],
      get: operation({ id: 'streamRunEvents', tag: 'runs', summary: 'Follow a run (server-sent events)', parameters: streamParameters, ok: { 200: eventStream }, errors: [400, 404], stream: true }),
    },
    ...Object.fromEntries(([
      ['cancel', 'cancelRun', 'Cancel a run (Temporal cancellation: the in-flight tool is stopped, credits released)', IGNORED_BODY],
      ['approve', 'approveRun', 'Answer an approval or budget wait', jsonBody(ref('ApproveRequest'), false, 'Absent: approve')],
      ['pause', 'pauseRun', 'Hold a run before its next step', IGNORED_BODY],
      ['resume', 'resumeRun', 'Let a paused run go on', IGNORED_BODY],
      ['messages', 'sendRunMessage', 'A message for the run\'s supervisor (an answer to its question, or guidance)', jsonBody(ref('MessageRequest'), true)],
    ] as const).map(([path, id, summary, body]) => [`/v1/runs/{id}/${path}`, {
      parameters: [RUN_ID_PARAM],
      post: operation({
        id, tag: 'runs', summary, body, description: 'A run that has ended, or a seed-flow run not started yet, is 409 (`run_closed`, `run_not_started`; approve: `not_awaiting_approval`).',
        ok: { 202: json(ref('ControlAccepted'), 'The control was sent to the run') }, errors: [400, 404, 409, 413, 415],
      }),
    }])),
    '/v1/runs/{id}/files': {
      parameters: [RUN_ID_PARAM],
      get: operation({
        id: 'listRunFiles', tag: 'runs', summary: 'The files of the run\'s workspace',
        parameters: queryParameters(filesQuery, { limit: { description: 'Files per page' }, cursor: { description: '`nextCursor` of the previous page, unchanged' } }),
        ok: { 200: json(ref('FilePage'), 'One page of files') }, errors: [400, 404],
      }),
    },
    '/v1/runs/{id}/files/{path}': {
      parameters: [RUN_ID_PARAM, pathParam('path', 'A workspace path; it may contain `/`; percent-encoding is decoded once, then the path must be safe (no `..`, absolute paths, control characters, …)')],
      get: operation({
        id: 'downloadRunFile', tag: 'runs', summary: 'Download one workspace file',
        ok: {
          200: {
            description: 'The file, streamed with its content type, as an attachment',
            headers: { 'Content-Disposition': headerRef('Content-Disposition'), ETag: headerRef('ETag'), 'Last-Modified': headerRef('Last-Modified') },
            content: { '*/*': {} },
          },
        },
        errors: [400, 404],
      }),
    },
  };

  const seedPaths: Record<string, JsonObject> = {
    '/agent/execute': {
      post: operation({
        id: 'seedExecute', tag: 'seed', summary: 'The seeds\' run API',
        description: '`create` records a run without starting it (201); `start` starts it (202; 200 with `started: false` when it had started); `stop` cancels (202); `status` reads it (200); `retry` repeats a failed or cancelled run as a new run in its workspace (202).',
        body: jsonBody(ref('SeedExecuteRequest'), true),
        ok: {
          200: json({ anyOf: [ref('SeedStatus'), ref('SeedStarted')] }, '`status`: the run; `start` of a run started before'),
          201: json(ref('SeedCreated'), '`create`: the run is recorded, not started'),
          202: json({ anyOf: [ref('SeedStarted'), ref('SeedStopping'), ref('SeedRetried')] }, '`start`, `stop` or `retry` accepted'),
        },
        errors: [400, 404, 409, 410, 413, 415],
      }),
    },
    '/agent/logs/{runId}/stream': {
      parameters: [pathParam('runId', 'A run id of the caller')],
      get: operation({ id: 'seedLogStream', tag: 'seed', summary: 'The seeds\' log stream: the same events as /v1/runs/{id}/events', parameters: streamParameters, ok: { 200: eventStream }, errors: [400, 404], stream: true }),
    },
  };

  const queuePaths: Record<string, JsonObject> = {
    '/v1/queue': {
      get: operation({ id: 'queueStats', tag: 'queue', summary: 'Counts and oldest-entry ages of the jobs:* lists', ok: { 200: json(ref('QueueStats'), 'The lists now') }, errors: [403] }),
    },
    '/v1/queue/failed': {
      get: operation({
        id: 'listFailed', tag: 'queue', summary: 'Dead-lettered entries, newest first, with their reason',
        parameters: queryParameters(failedListQuery, { limit: { description: 'Entries to show' } }),
        ok: { 200: json(ref('FailedPage'), 'The entries') }, errors: [400, 403],
      }),
    },
    '/v1/queue/failed/{id}/retry': {
      parameters: [pathParam('id', 'The `id` of a dead-lettered entry')],
      post: operation({
        id: 'retryFailed', tag: 'queue', summary: 'Start a dead-lettered entry again',
        description: 'A failed run is repeated as a new run (`runId`, `retryOf`); an ingress entry goes back onto jobs:pending verbatim (never re-signed). The new run\'s record is made from the failed run\'s database record and its entry is signed with INGRESS_SIGNING_SECRET (503 `ingress_signing_unavailable` without one). 404 when the entry is no longer dead-lettered, 409 while another retry of it is under way or when the run is not failed.',
        ok: { 202: json(ref('RetryOutcome'), 'The entry is on its way back to jobs:pending') }, errors: [400, 403, 404, 409],
      }),
    },
  };

  const opsPaths: Record<string, JsonObject> = {
    '/healthz': { get: operation({ id: 'health', tag: 'ops', summary: 'Liveness', ok: { 200: json(ref('Health'), 'The process answers') }, open: true }) },
    ...(opts.readyz ? {
      '/readyz': {
        get: operation({
          id: 'ready', tag: 'ops', summary: 'Readiness: every dependency answers', open: true,
          ok: { 200: json(ref('Ready'), 'Ready'), 503: json(ref('NotReady'), 'A dependency is down (named in `down`)', { 'Retry-After': headerRef('Retry-After') }) },
        }),
      },
    } : {}),
    '/openapi.json': { get: operation({ id: 'openapi', tag: 'ops', summary: 'This document', ok: { 200: json(ref('OpenApiDocument'), 'The OpenAPI 3.1 document') }, open: true }) },
  };

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
      { name: 'seed', description: 'The seeds\' endpoints, kept so their clients work unchanged (snake_case fields)' },
      ...(opts.queue ? [{ name: 'queue', description: 'The queue facade, for operators (AUTH_OPERATORS)' }] : []),
      { name: 'ops', description: 'Health, readiness, metrics: no credentials' },
    ],
    security: CALLER_SECURITY,
    paths: { ...runPaths, ...seedPaths, ...(opts.queue ? queuePaths : {}), ...opsPaths },
    components: {
      schemas: { ...requestSchemas, ...responseSchemas },
      responses: {
        BadRequest: problem('The request is malformed: the message names the first bad field (`invalid_request`), the body is not JSON (`invalid_json`), or a path is unsafe (`invalid_path`)'),
        Unauthorized: problem('Missing or bad credentials (`missing_credentials`, `invalid_token`, `invalid_api_key`)', { 'WWW-Authenticate': headerRef('WWW-Authenticate') }),
        Forbidden: problem('The caller may not use this route (`forbidden`)'),
        NotFound: problem('No such run of the caller, file, or entry (`not_found`, `file_not_found`, `workspace_not_found`)'),
        Conflict: problem('Not in the run\'s current state (`run_closed`, `run_not_started`, `not_awaiting_approval`, `run_not_retryable`, `already_retried`)'),
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
