/** What run operations take and give: their dependencies, requests, views, and the defaults applied once. */
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import type { Logger } from 'pino';
import type { EventLog } from '../infra/event-log.ts';
import type { QueueFacade } from '../infra/queue.ts';
import type { Plan, RunInput, RunLimits, RunState, RunStatus } from '../shared/run.ts';
import type { RunRecord, Store } from '../store/types.ts';
import type { WorkspaceManifest, WorkspaceStore } from '../workspace/index.ts';

export interface RunsDeps {
  temporal: Client;
  store: Store;
  /** The run workspaces (files, claims, large prompts, archived event logs). */
  workspace: WorkspaceStore;
  taskQueue: string;
  creditReservation: number;
  provider: RunInput['provider'];
  limits: RunLimits;
  /** Runs one user may have going at once. */
  maxActiveRuns: number;
  /** How long a user at the active-run limit is asked to wait before trying again (s). */
  runLimitRetryAfterS: number;
  log: Logger;
  /** The run event logs: control actions without a workflow event (cancel, message) are put there with their actor. */
  events?: EventLog;
  /** The jobs:* facade; a run is listed as queued before Temporal sees it (so no later transition can be overtaken). */
  queue?: QueueFacade;
}

/** How a run is started besides the HTTP request: the legacy ingress starts an existing `created` record. */
export interface StartOptions {
  /** The run id: an existing record (status `created`) to start, or the id an Idempotency-Key claim chose; a new id without it. */
  id?: string;
  retryCount?: number;
  retryOf?: string;
  /** An idempotent retry of an earlier attempt with this id (src/api/idempotency.ts): a run that has ended since is answered, not refused. */
  resumeClaim?: boolean;
}

/** Prompts above this size go to the workspace instead of workflow history. */
export const INLINE_PROMPT_MAX_BYTES = 8192;
export const DEFAULT_PRIORITY = 3;
/** How long a workflow start may take before its outcome is checked (and, if Temporal cannot say, reported unknown). */
export const START_DEADLINE_MS = 10_000;

export interface StartRequest {
  prompt: string;
  requireApproval?: boolean;
  /** 1 (first) … 5 (last); default 3. */
  priority?: number;
  /** Credits to reserve instead of the default. */
  budget?: number;
  /** An earlier run of the same user whose workspace files this run works in. */
  workspaceId?: string;
  /** Only read from a run record (a fork's parent plan). */
  plan?: Plan;
}

/** A fork's start: its plan, and its workspace to make from a step's manifest before it starts (src/runs/fork.ts). */
export interface ForkStart { plan: Plan; forkOf: { runId: string; step: number }; files: WorkspaceManifest }

export interface RunView {
  id: string;
  userId: string;
  status: RunStatus;
  plan?: RunState['plan'];
  steps: RunState['steps'];
  currentStep?: number;
  error?: RunState['error'];
  usage: { credits: number };
  createdAt?: string;
  closedAt?: string;
}

/** A run as the list shows it: from the run record, no workflow query. */
export interface RunSummary {
  id: string;
  status: RunStatus;
  priority: number;
  promptPreview: string;
  error?: unknown;
  usage: { credits: number };
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface WorkspaceFile { path: string; size: number; lastModified?: string; etag?: string; contentType: string }

/** A run the caller owns: its workflow (absent for a `created` run not started yet) and/or its record. */
export interface OwnedRun {
  id: string;
  userId: string;
  description?: WorkflowExecutionDescription;
  record?: RunRecord;
  /** Its record says it has started and not ended; no description was read (streamOwner). */
  live?: boolean;
}

/** What a caller can do to a run of theirs. */
export const CONTROL_ACTIONS = ['cancel', 'approve', 'pause', 'resume', 'message'] as const;
export type ControlAction = (typeof CONTROL_ACTIONS)[number];
