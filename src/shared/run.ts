/**
 * Domain types of a run shared by the API, the workflow and activities.
 * Pure module (zod only), safe to import from workflow code.
 */
import { z } from 'zod';

export const RUN_STATUSES = [
  'created', 'queued', 'planning', 'awaiting_approval', 'running', 'paused', 'completed', 'failed', 'cancelled',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL_STATUSES: ReadonlySet<RunStatus> = new Set(['completed', 'failed', 'cancelled']);

export const MAX_PROMPT_CHARS = 20_000;

export const writeFileStep = z.object({
  tool: z.literal('write_file'),
  path: z.string().min(1).max(1024),
  content: z.string().max(1_000_000),
});
export const readFileStep = z.object({
  tool: z.literal('read_file'),
  path: z.string().min(1).max(1024),
});
export const shellStep = z.object({
  tool: z.literal('shell'),
  argv: z.array(z.string().max(4096)).min(1).max(256),
  timeoutMs: z.number().int().positive().max(3_600_000).optional(),
});
export const planStep = z.discriminatedUnion('tool', [writeFileStep, readFileStep, shellStep]);
export type PlanStep = z.infer<typeof planStep>;
export type ToolName = PlanStep['tool'];

export const plan = z.object({
  summary: z.string(),
  steps: z.array(planStep).max(500),
});
export type Plan = z.infer<typeof plan>;

export interface RunInput {
  runId: string;
  userId: string;
  prompt: string;
  /** Credits reserved for the run when it starts; what is not charged returns at the end. */
  creditReservation: number;
}

export interface StepResult {
  index: number;
  tool: ToolName;
  ok: boolean;
  /** Short human summary; large outputs stay in the workspace. */
  summary: string;
  exitCode?: number;
  durationMs: number;
}

export interface RunState {
  runId: string;
  userId: string;
  status: RunStatus;
  plan?: Plan;
  steps: StepResult[];
  currentStep?: number;
  error?: { code: string; message: string };
  /** Credits charged so far. */
  creditsCharged: number;
}

/** Events carried on a run's log stream (SSE event names). */
export const EVENT_TYPES = ['status', 'log', 'step', 'usage', 'approval', 'end'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface RunEvent {
  /** Deterministic key: appending the same key twice is a no-op (activity retries). */
  key: string;
  type: EventType;
  data: Record<string, unknown>;
}
