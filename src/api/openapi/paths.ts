/** The paths of the OpenAPI document: runs, the seeds' endpoints, the queue facade, ops. */
import { IDEMPOTENCY_KEY_RE } from '../idempotency.ts';
import { listQuery as failedListQuery } from '../queue-routes.ts';
import { filesQuery, listQuery as runListQuery } from '../runs-routes.ts';
import {
  eventStream, headerRef, IGNORED_BODY, json, jsonBody, operation, pathParam, queryParameters, ref, RUN_ID_PARAM, streamParameters,
} from './operations.ts';
import type { JsonObject } from './operations.ts';

export interface OpenApiOptions {
  /** API_PROMPT_MAX_CHARS: the longest prompt the run bodies accept. */
  promptMaxChars: number;
  /** API_BODY_MAX_BYTES: larger JSON bodies are 413. */
  bodyMaxBytes: number;
  /** Which of createApp's optional routes are mounted: /readyz, /v1/queue*. (/metrics has a listener of its own: API_METRICS_PORT.) */
  readyz?: boolean;
  queue?: boolean;
}

/** approve's own 409s: not waiting, and extra credits for a wait that is not for budget (only a budget wait adds them). */
const APPROVE_409 = '; approve: `not_awaiting_approval`, and `extra_credits_not_applicable` for `extraCredits` when the run waits for approval of its plan or an answer rather than for budget';

/** Every path of the document as createApp mounts them with these options. */
export function apiPaths(opts: OpenApiOptions): Record<string, JsonObject> {
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
        id, tag: 'runs', summary, body,
        description: `A run that has ended, or a seed-flow run not started yet, is 409 (\`run_closed\`, \`run_not_started\`${id === 'approveRun' ? APPROVE_409 : ''}).`,
        ok: { 202: json(ref('ControlAccepted'), 'The control was sent to the run') }, errors: [400, 404, 409, 413, 415],
      }),
    }])),
    '/v1/runs/{id}/fork': {
      parameters: [RUN_ID_PARAM],
      post: operation({
        id: 'forkRun', tag: 'runs', summary: 'A new run after step N of an ended run, with its workspace as it was after step N',
        description: 'The new run runs the rest of the ended run\'s plan (no planner is asked), in a workspace of its own holding the file versions recorded after `fromStep` (copied server-side). 409 when the run has not ended (`run_not_ended`), has no such step (`no_such_step`), the step was its last (`nothing_after_step`), or the workspace was not recorded with versions or they expired (`workspace_not_versioned`, `workspace_version_gone`).',
        body: jsonBody(ref('ForkRequest'), true),
        ok: { 202: json(ref('ForkAccepted'), 'The fork is queued', { Location: headerRef('Location') }) },
        errors: [400, 404, 409, 413, 415, 429],
      }),
    },
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
    '/v1/queue/breakers': {
      get: operation({ id: 'listBreakers', tag: 'queue', summary: 'The tool breakers of every user (work:backoff), open ones first', ok: { 200: json(ref('BreakerList'), 'The breakers') }, errors: [403] }),
    },
    '/v1/queue/breakers/{userId}/{tool}': {
      parameters: [pathParam('userId', 'The user'), pathParam('tool', 'The tool')],
      delete: operation({ id: 'resetBreaker', tag: 'queue', summary: 'Close a user\'s breaker for a tool: its steps run again', ok: { 200: json(ref('BreakerReset'), 'Closed') }, errors: [403, 404] }),
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
  return { ...runPaths, ...seedPaths, ...(opts.queue ? queuePaths : {}), ...opsPaths };
}
