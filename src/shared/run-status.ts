/**
 * A run's statuses and which of them are endings, without zod: the workflow imports them,
 * and a module it imports is initialised again for every execution (see src/workflows/tracing.ts).
 */
export const RUN_STATUSES = [
  'created', 'queued', 'planning', 'awaiting_approval', 'running', 'paused', 'completed', 'failed', 'cancelled',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const TERMINAL_STATUSES: ReadonlySet<RunStatus> = new Set(['completed', 'failed', 'cancelled']);
