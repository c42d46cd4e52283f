/**
 * Domain types of a run shared by the API, the workflow and activities.
 * Pure module (zod only). Workflow code imports only its types (its values are
 * initialised per execution there): run-limits.ts holds the limits it needs, run-status.ts
 * the statuses.
 */
import { z } from 'zod';
import { MCP_SERVER_NAME, MCP_TOOL_NAME } from './config/mcp.ts';
import type { RunStatus } from './run-status.ts';

export { MAX_PROMPT_CHARS, MESSAGE_MAX_CHARS } from './run-limits.ts';
export { RUN_STATUSES, TERMINAL_STATUSES, type RunStatus } from './run-status.ts';

/** Tools that never change the workspace: their steps record no manifest of it (a fork from one uses the step before). */
export const READ_ONLY_TOOLS: ReadonlySet<string> = new Set(['read_file', 'list_files', 'stat_file']);

/** Tools whose steps run in the sandbox, which writes the workspace itself (the worker does not see those writes). */
export const SANDBOXED_TOOLS: ReadonlySet<string> = new Set(['shell', 'code', 'browser', 'mcp']);

export const writeFileStep = z.object({
  tool: z.literal('write_file'),
  path: z.string().min(1).max(1024),
  content: z.string().max(1_000_000),
  /** Set by the plan activity when the content is large: it lives in the workspace, not in history. */
  contentRef: z.string().max(1024).optional(),
});
export const readFileStep = z.object({
  tool: z.literal('read_file'),
  path: z.string().min(1).max(1024),
});
export const listFilesStep = z.object({
  tool: z.literal('list_files'),
  /** A directory of the workspace (a trailing `/` is allowed); absent means the whole workspace. */
  prefix: z.string().min(1).max(1024).optional(),
});
export const statFileStep = z.object({
  tool: z.literal('stat_file'),
  path: z.string().min(1).max(1024),
});
export const deleteFileStep = z.object({
  tool: z.literal('delete_file'),
  path: z.string().min(1).max(1024),
});
export const shellStep = z.object({
  tool: z.literal('shell'),
  argv: z.array(z.string().max(4096)).min(1).max(256),
  timeoutMs: z.number().int().positive().max(3_600_000).optional(),
});
/** Languages a `code` step may be written in; the sandbox knows each one's interpreter. */
export const CODE_LANGUAGES = ['python', 'node', 'bash'] as const;
export type CodeLanguage = typeof CODE_LANGUAGES[number];

/** Source code run by an interpreter in the sandbox, against the run's workspace. */
export const codeStep = z.object({
  tool: z.literal('code'),
  language: z.enum(CODE_LANGUAGES),
  source: z.string().min(1).max(200_000),
  timeoutMs: z.number().int().positive().max(3_600_000).optional(),
});
export const fetchUrlStep = z.object({
  tool: z.literal('fetch_url'),
  /** An http(s) URL; where it may lead is the egress policy's to say (src/infra/egress.ts), not the plan's. */
  url: z.string().min(1).max(2048),
  /** Where in the workspace to save the body; absent: its text goes to the log. */
  path: z.string().min(1).max(1024).optional(),
});
export const webSearchStep = z.object({
  tool: z.literal('web_search'),
  query: z.string().trim().min(1).max(400),
  /** How many results (1-20; default 10). */
  count: z.number().int().min(1).max(20).optional(),
});
export const browserStep = z.object({
  tool: z.literal('browser'),
  url: z.string().min(1).max(8192),
  /** Workspace path of a PNG screenshot of the page (the 1280×720 viewport). */
  screenshot: z.string().min(1).max(1024).optional(),
  /** Save the page's text into the workspace: true for browser/NNN.txt, or a path. */
  text: z.union([z.boolean(), z.string().min(1).max(1024)]).optional(),
});
export const mcpStep = z.object({
  tool: z.literal('mcp'),
  /** The connector: a name of MCP_SERVERS. */
  server: z.string().regex(MCP_SERVER_NAME),
  /** The tool, as the server lists it (mcp:<server>.<name> to the planner). */
  name: z.string().regex(MCP_TOOL_NAME),
  /** The tool's arguments, a JSON object its input schema accepts. */
  arguments: z.record(z.string(), z.unknown()).optional(),
});
export const planStep = z.discriminatedUnion('tool', [writeFileStep, readFileStep, listFilesStep, statFileStep, deleteFileStep, shellStep, codeStep, fetchUrlStep, webSearchStep, browserStep, mcpStep]);
export type PlanStep = z.infer<typeof planStep>;
export type ToolName = PlanStep['tool'];
/** Every tool a plan may use (the order the planner prompt lists them in). */
export const TOOL_NAMES: readonly ToolName[] = ['write_file', 'read_file', 'list_files', 'stat_file', 'delete_file', 'shell', 'code', 'fetch_url', 'web_search', 'browser', 'mcp'];

export const plan = z.object({
  summary: z.string(),
  steps: z.array(planStep).max(500),
});
export type Plan = z.infer<typeof plan>;

/** Limits copied into each run at start, so a configuration change never alters a running run. */
export interface RunLimits {
  maxIterations: number;
  activationTimeoutMs: number;
  approvalTimeoutMs: number;
  humanReplyTimeoutMs: number;
  approvalTools: string[];
  /** SHELL_TIMEOUT_MS: a shell or code step's time limit when the plan gives none (absent in runs started before it was copied). */
  shellTimeoutMs?: number;
  /** SHELL_TIMEOUT_MAX_MS: the most a plan's `timeoutMs` may be; longer ones are cut to it. */
  shellTimeoutMaxMs?: number;
  /** ANTHROPIC_MAX_TOKENS: `max_tokens` of each LLM call, which bounds what a call is held at. */
  llmMaxTokens?: number;
}

export interface RunInput {
  runId: string;
  userId: string;
  /** The prompt, or its first characters when it is large (then `promptRef` holds it in the workspace). */
  prompt: string;
  promptRef?: string;
  /** UTF-8 size of the whole prompt (it bounds what an LLM call can bill). */
  promptBytes?: number;
  /**
   * The run whose workspace files this run works in: an earlier run of the same
   * user (checked by the API), or absent for the run's own workspace.
   */
  workspaceId?: string;
  /** Credits reserved for the run when it starts; what is not charged returns at the end. */
  creditReservation: number;
  provider: 'offline' | 'anthropic';
  requireApproval: boolean;
  /** Temporal priority key, 1 (first) … 5 (last). */
  priority: number;
  limits: RunLimits;
  /** A fork's plan: the steps of its parent's plan after the step it was forked from (no planner is asked for it). */
  plan?: Plan;
  /** The run and the step (1-based) this run was forked from, its workspace as it was after that step. */
  forkOf?: { runId: string; step: number };
  /** State carried across continue-as-new: written and read by AgentRun only (`RunCarry` in src/workflows/state.ts). */
  carry?: object;
}

export interface StepResult {
  /** Execution number within the run (retries and replanned steps get new ones). */
  index: number;
  /** Position in the plan at the time. */
  planIndex?: number;
  tool: ToolName;
  ok: boolean;
  /** Short human summary; large outputs stay in the workspace. */
  summary: string;
  exitCode?: number;
  durationMs: number;
  /** The reset epoch the step's record is keyed with (absent before any reset): where a fork finds it. */
  epoch?: string;
}

export interface RunState {
  runId: string;
  userId: string;
  status: RunStatus;
  plan?: Plan;
  currentStep?: number;
  error?: { code: string; message: string };
  /** Credits charged so far. */
  creditsCharged: number;
  /** Step executions so far (retries included). */
  iterations: number;
  /** Steps that finished successfully. */
  completedSteps: number;
  /** Credits reserved for the run (grows when an approval extends the budget). */
  creditsReserved: number;
  /** Why the run waits for a human, while it does. */
  waitingFor?: { kind: 'approval' | 'budget' | 'question'; detail: string };
  /** Results of the most recent steps (older ones are in the workspace and the database). */
  steps: StepResult[];
  /**
   * Once a step's record was keyed with a reset epoch: `[from, epoch]` pairs, each saying the
   * records of step executions `from` on carry `epoch` (null: none), for forks to find them.
   */
  recordEpochs?: [number, string | null][];
}

/** Events carried on a run's log stream (SSE event names). */
export const EVENT_TYPES = ['status', 'log', 'step', 'usage', 'approval', 'end', 'reset'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface RunEvent {
  /** Deterministic key: appending the same key twice is a no-op (activity retries). */
  key: string;
  type: EventType;
  data: Record<string, unknown>;
}
