/**
 * Wire names defined once: the workflow type, search attributes, run ids, Redis keys, S3 keys,
 * the labels on a run's Kubernetes Jobs.
 * Pure module, safe to import from workflow code.
 */

export const WORKFLOW_TYPE = 'AgentRun';

/** The actor of a control action sent to Temporal directly (CLI, Web UI), which names no user: on events and audit rows. */
export const DIRECT_ACTOR = 'temporal-direct';

/** Custom search attributes the dev server registers at start (see src/dev/services/temporal.ts). */
export const SEARCH_ATTRIBUTES = {
  AgentStatus: 'Keyword',
  UserId: 'Keyword',
  AgentPriority: 'Int',
} as const;

export const RUN_ID_RE = /^run_[0-9a-z]{26}$/;

/** Run ids are also workflow ids: `run_` + 26 lowercase base32 chars (a ULID-like, sortable id). */
export function isRunId(value: string): boolean {
  return RUN_ID_RE.test(value);
}

export const redisKeys = {
  /** Capped stream holding a run's events; entry ids are the SSE ids. */
  events: (runId: string) => `agent:events:${runId}`,
  /**
   * Pub/sub channel on which each appended event is announced. An API process has one
   * subscriber connection and subscribes to a run's channel while a client follows that
   * run (src/api/event-hub.ts), so it receives only runs it serves.
   */
  logsChannel: (runId: string) => `agent:logs:${runId}`,
  /** Set of event keys already appended, so a retried activity never appends twice. */
  eventDedupe: (runId: string) => `agent:events:${runId}:keys`,
  workerHeartbeat: 'worker:heartbeat',
  /** The tool breakers (the seeds' `work:backoff` hash): field `<user>:<tool>`, value its JSON state (src/infra/breaker.ts). */
  backoff: 'work:backoff',
  /** Requests of one user in the current rate-limit window (INCR, expires with the window). */
  rateLimit: (userId: string) => `api:ratelimit:${userId}`,
  /** What an `Idempotency-Key` of POST /v1/runs produced; `keyHash` is the SHA-256 of the key. */
  idempotency: (userId: string, keyHash: string) => `api:idempotency:${userId}:${keyHash}`,
} as const;

/** The queue facade's Redis keys (the seeds' `jobs:*` names under a configurable prefix, `jobs:` by default). */
export function queueKeys(prefix = 'jobs:') {
  return {
    pending: `${prefix}pending`,
    highPriority: `${prefix}high_priority`,
    processing: `${prefix}processing`,
    retry: `${prefix}retry`,
    failed: `${prefix}failed`,
    /** Hash run id → `<list key>\n<member>`: where each tracked run's entry is, so a transition can move it exactly. */
    index: `${prefix}index`,
  } as const;
}
export type QueueKeys = ReturnType<typeof queueKeys>;

export function runIdFromChannel(channel: string): string | undefined {
  const prefix = 'agent:logs:';
  return channel.startsWith(prefix) ? channel.slice(prefix.length) : undefined;
}

export const s3Keys = {
  runPrefix: (userId: string, runId: string) => `users/${userId}/runs/${runId}/`,
  /**
   * Prefix of a workspace's files. A workspace belongs to the run that created
   * it; a later run of the same user continues in it by naming that run as its
   * `workspaceId`, so every key stays under `users/{userId}/runs/{runId}/`.
   */
  workspaceFiles: (userId: string, workspaceRunId: string) => `users/${userId}/runs/${workspaceRunId}/files/`,
  /** A workspace file; `safePath` must come from `checkWorkspacePath`. */
  file: (userId: string, runId: string, safePath: string) => `users/${userId}/runs/${runId}/files/${safePath}`,
  /** The run's full event log, archived when the run ends (JSON lines of {id, type, data}). */
  eventArchive: (userId: string, runId: string) => `users/${userId}/runs/${runId}/.agentrun/events.jsonl`,
  /** Result record the sandbox runner writes for a shell/code execution (the Job's outcome, independent of pod logs). */
  sandboxResult: (userId: string, runId: string, index: number) =>
    `users/${userId}/runs/${runId}/.agentrun/sandbox/${String(index).padStart(5, '0')}.json`,
  /** Prefix under which every user's runs live (the retention sweep walks it). */
  usersPrefix: 'users/',
  /** Which workspace a run works in, written when it is another run's (`{ workspaceId }`). */
  workspaceLink: (userId: string, runId: string) => `users/${userId}/runs/${runId}/.agentrun/workspace.json`,
  /** Marker: run `userRunId` works in this workspace (the retention sweep keeps workspaces in use). */
  workspaceUser: (userId: string, workspaceRunId: string, userRunId: string) =>
    `users/${userId}/runs/${workspaceRunId}/.agentrun/workspace-users/${userRunId}`,
  workspaceUsers: (userId: string, workspaceRunId: string) => `users/${userId}/runs/${workspaceRunId}/.agentrun/workspace-users/`,
  /** Tombstone written by the retention sweep before it deletes a workspace's files; a deleted workspace is never reused. */
  workspaceTombstone: (userId: string, workspaceRunId: string) => `users/${userId}/runs/${workspaceRunId}/.agentrun/workspace-deleted.json`,
  /** What a file step observed before writing (the version it may overwrite), so a retry writes under the same condition. */
  stepIntent: (userId: string, runId: string, index: number) =>
    `users/${userId}/runs/${runId}/.agentrun/steps/${String(index).padStart(5, '0')}.intent.json`,
  /** A prompt too large for workflow history, written when the run starts (history carries this key). */
  prompt: (userId: string, runId: string) => `users/${userId}/runs/${runId}/.agentrun/prompt.txt`,
  /** An LLM call's transcript; `kind` is `plan`, `replan` or `supervise-{index}`. */
  llmTranscript: (userId: string, runId: string, callId: number, kind: string) =>
    `users/${userId}/runs/${runId}/.agentrun/llm/${String(callId).padStart(4, '0')}-${kind}.json`,
  /** Out-of-line write_file content of plan step `stepIndex` of LLM call `callId` (the plan keeps this key as `contentRef`). */
  planContent: (userId: string, runId: string, callId: number, stepIndex: number) =>
    `users/${userId}/runs/${runId}/.agentrun/plans/${callId}/step-${stepIndex}.txt`,
  /** A workspace's files as a run started with them (a fork's copies): the base its steps' changes add to. */
  workspaceBase: (userId: string, runId: string) => `users/${userId}/runs/${runId}/.agentrun/workspace-base.json`,
  /** Result record of a completed step: its presence means the step's effects already happened. */
  stepRecord: (userId: string, runId: string, index: number, epoch?: string) =>
    `users/${userId}/runs/${runId}/.agentrun/steps/${String(index).padStart(5, '0')}${epoch === undefined ? '' : `@${epoch}`}.json`,
} as const;

/** Labels on a run's Kubernetes Jobs and pods (the executor sets them; selectors find a run's by them). */
export const JOB_LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  runId: 'agentrun.dev/run-id',
  step: 'agentrun.dev/step',
  /** `web` on a browser step's pod: the tools' web-egress NetworkPolicy selects it. */
  egress: 'agentrun.dev/egress',
} as const;
