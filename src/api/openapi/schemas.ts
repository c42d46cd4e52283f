/**
 * The response shapes of the OpenAPI document, as the routes send them (zod, converted with
 * io `output`); test/e2e/openapi.test.ts checks the answers of a running API against them.
 */
import { z } from 'zod';
import { CONTROL_ACTIONS } from '../../runs/model.ts';
import { RUN_ID_RE } from '../../shared/names.ts';
import { failureReason, QUEUE_NAMES } from '../../shared/queue.ts';
import { plan, planStep, RUN_STATUSES, TOOL_NAMES } from '../../shared/run.ts';
import type { ToolName } from '../../shared/run.ts';

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
const forkAccepted = runAccepted.extend({ forkOf: z.object({ runId, step: z.number().int().min(1).describe('The step after which the fork starts') }) });
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

const breaker = z.object({
  userId: z.string(), tool: z.string(), failures: z.number().int().min(0), opens: z.number().int().min(0).describe('Times it opened in a row (the cooldown doubles each time)'),
  open: z.boolean(), openUntil: z.string().nullable(),
});
const breakerList = z.object({ breakers: z.array(breaker) });
const breakerReset = z.object({ userId: z.string(), tool: z.string(), reset: z.literal(true) });

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

/** Every response schema by its name under components.schemas. */
export const RESPONSE_SCHEMAS = {
    RunStatus: runStatus, RunLinks: runLinks, Failure: failure, Usage: usage, StepResult: stepResult, PlanStep: planStep, Plan: plan,
    RunView: runView, RunSummary: runSummary, RunPage: runPage, RunAccepted: runAccepted, ForkAccepted: forkAccepted, ControlAccepted: controlAccepted,
    WorkspaceFile: workspaceFile, FilePage: filePage,
    SeedCreated: seedCreated, SeedStarted: seedStarted, SeedStopping: seedStopping, SeedRetried: seedRetried, SeedStatus: seedStatus,
    QueueDepth: queueDepth, QueueStats: queueStats, FailedEntry: failedEntry, FailedPage: failedPage, RetryOutcome: retryOutcome,
    Breaker: breaker, BreakerList: breakerList, BreakerReset: breakerReset,
    Health: health, ReadinessCheck: readinessCheck, Ready: ready, NotReady: notReady, Error: errorBody, OpenApiDocument: openApiDocument,
};
