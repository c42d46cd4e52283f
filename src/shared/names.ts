/**
 * Wire names defined once: Temporal types and task queues, Redis keys, S3 keys.
 * Pure module, safe to import from workflow code.
 */

export const WORKFLOW_TYPE = 'AgentRun';
export const DEFAULT_TASK_QUEUE = 'agentrun';

/** Custom search attributes the dev server registers at start (see src/dev/services.ts). */
export const SEARCH_ATTRIBUTES = {
  AgentStatus: 'Keyword',
  UserId: 'Keyword',
  AgentPriority: 'Int',
} as const;

const RUN_ID_RE = /^run_[0-9a-z]{26}$/;

/** Run ids are also workflow ids: `run_` + 26 lowercase base32 chars (a ULID-like, sortable id). */
export function isRunId(value: string): boolean {
  return RUN_ID_RE.test(value);
}

export const redisKeys = {
  /** Capped stream holding a run's events; entry ids are the SSE ids. */
  events: (runId: string) => `agent:events:${runId}`,
  /** Pub/sub channel on which each appended event is announced. */
  logsChannel: (runId: string) => `agent:logs:${runId}`,
  /** Pattern matching every run's channel (one subscription per API process). */
  logsChannelPattern: 'agent:logs:*',
  /** Set of event keys already appended, so a retried activity never appends twice. */
  eventDedupe: (runId: string) => `agent:events:${runId}:keys`,
  workerHeartbeat: 'worker:heartbeat',
} as const;

export function runIdFromChannel(channel: string): string | undefined {
  const prefix = 'agent:logs:';
  return channel.startsWith(prefix) ? channel.slice(prefix.length) : undefined;
}

export const s3Keys = {
  runPrefix: (userId: string, runId: string) => `users/${userId}/runs/${runId}/`,
  /** A workspace file; `safePath` must come from `checkWorkspacePath`. */
  file: (userId: string, runId: string, safePath: string) => `users/${userId}/runs/${runId}/files/${safePath}`,
  /** Result record of a completed step: its presence means the step's effects already happened. */
  stepRecord: (userId: string, runId: string, index: number) =>
    `users/${userId}/runs/${runId}/.agentrun/steps/${String(index).padStart(5, '0')}.json`,
} as const;
