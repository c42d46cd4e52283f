/**
 * The records-and-credits store. Two adapters (Postgres through `pg`, Supabase
 * through supabase-js RPC) call the same SQL functions, so behaviour lives once,
 * in the migrations.
 */
import type { RunStatus } from '../shared/run.ts';
import type { LimitDefaults } from '../shared/config.ts';

/** Limits for users without their own (DAILY_TOKEN_LIMIT, MONTHLY_COST_LIMIT): every call that enforces limits passes them. */
export const NO_LIMIT_DEFAULTS: LimitDefaults = { dailyTokenLimit: null, monthlyCostLimit: null };

export type CreditRefusalReason =
  | 'insufficient_credits' | 'budget_exceeded' | 'budget_exhausted'
  | 'no_reservation' | 'reservation_closed' | 'invalid_amount'
  /** An operator's adjustment: the key was used for a different request; the user has no account. */
  | 'idempotency_conflict' | 'unknown_user';

export type CreditResult =
  | {
    ok: true; replayed: boolean; available: number; reserved: number; run_reserved?: number; run_charged?: number; run_held?: number;
    returned?: number; reservation?: string;
    /** settleHold: what was charged (at most the hold), and whether the asked amount was cut to the hold. */
    charged?: number; capped?: boolean;
  }
  | { ok: false; reason: CreditRefusalReason; message: string; available: number; reserved: number; run_reserved?: number; run_charged?: number; run_held?: number };

export interface Balance { available: number; reserved: number }

/** A user's account (credit_account): balance, limits (their own or the defaults) with what is used, runs going. */
export interface Account {
  user_id: string;
  /** Seen by the API, or granted credits: operators may act on known users only. */
  known: boolean;
  available: number; reserved: number;
  limits_source: 'user' | 'default';
  daily_token_limit: number | null; tokens_today: number;
  monthly_cost_limit: number | null; spent_this_month: number; held: number;
  active_runs: number;
}

/** One row of a user's credit ledger. */
export interface LedgerEntry {
  id: number; kind: 'grant' | 'deduct' | 'reserve' | 'charge' | 'release' | 'refund'; amount: number;
  available_delta: number; reserved_delta: number; tokens: number; run_id: string | null; step_index: number | null;
  note: string | null; actor: string | null; created_at: string;
}

/** Where a page of stale queued records ended: the next page starts after it. */
/** What reopening a run for an epoch did. */
export type ReopenResult =
  | { ok: true; reopened: false; status: RunStatus }
  | { ok: true; reopened: true; previous: RunStatus; reserved: number }
  | { ok: false; reason: 'unknown_run' | 'insufficient_credits'; message: string };

export interface StaleCursor { updatedAt: string; id: string }

export interface RunRecordInput { id: string; userId: string; prompt: string; priority?: number; status?: RunStatus }
export interface RunFields { plan?: unknown; result_summary?: string; error?: { code: string; message: string } | null }
export interface StepRecordInput {
  runId: string; index: number; userId: string; tool: string; input: unknown;
  status: 'running' | 'completed' | 'failed'; attempt: number; outputSummary?: string; durationMs?: number;
  /**
   * The step's result record, kept with its end (completed or failed) under the reset epoch of
   * the execution that ran it; the first one of a key stays (stepResult reads it).
   */
  result?: StepResultInput;
}
/** The record as the JSON text JSON.stringify made of it, kept as it is: exactly, whatever a tool printed. */
export interface StepResultInput { epoch?: string; json: string }

/** A step's row without its status (stepBegin records it as running). */
export type StepRowInput = Omit<StepRecordInput, 'status' | 'outputSummary' | 'durationMs'>;
/** A step's last row: completed or failed. */
export type FinishedStepInput = StepRecordInput & { status: 'completed' | 'failed' };
export interface StepHoldInput { amount: number; tokens: number; key: string }
export interface StepSettleInput { holdKey: string; amount: number; tokens: number; chargeKey: string }

export interface RunRecord {
  id: string; user_id: string; prompt: string; status: RunStatus; priority: number; plan: unknown;
  result_summary: string | null; error: unknown; credits_charged: number; tokens_in: number; tokens_out: number;
  created_at: string; updated_at: string; started_at: string | null; finished_at: string | null;
  /** The reset epoch the run was last reopened for (null: never reset). */
  epoch?: string | null;
}

/** The outcome of `admitRun`: refused when the user already has `maxActive` runs going. */
export type AdmitResult =
  | { ok: true; created: boolean; status: RunStatus }
  | { ok: false; reason: 'too_many_active_runs'; active: number; message: string }
  | { ok: false; reason: 'not_found'; message: string };

export interface ListRunsQuery {
  /** Only runs in one of these statuses; all when absent. */
  statuses?: readonly RunStatus[];
  /** Runs older than this run id (the previous page's last id). */
  before?: string;
  limit: number;
}

/** Control actions the audit trail records (extra credits travel with an approval). */
export const AUDIT_ACTIONS = ['approve', 'reject', 'pause', 'resume', 'message', 'cancel', 'retry', 'fork'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** One control action: who (`actor`, authenticated `actorKind`) did what to which run (owned by `userId`). */
export interface AuditEntryInput {
  runId: string;
  /** The run's owner (row-level security filters on it). */
  userId: string;
  actor: string;
  actorKind: 'jwt' | 'api_key' | 'none' | 'temporal';
  action: AuditAction;
  detail?: Record<string, unknown>;
  /** For writers that may retry: a second row with the same key is not written. */
  sourceKey?: string;
}

export interface AuditEntry {
  id: number; run_id: string; user_id: string; actor: string; actor_kind: AuditEntryInput['actorKind'];
  action: AuditAction; detail: Record<string, unknown>; created_at: string;
}

/** What `agentrun_schema_info()` (or information_schema) says the database holds. */
export interface SchemaInfo {
  columns: Record<string, string[]>;
  functions: string[];
  migration: string | null;
}

export interface Store {
  readonly kind: 'postgres' | 'supabase';
  /** Live schema description, for the boot check. */
  schemaInfo(): Promise<SchemaInfo>;

  grant(userId: string, amount: number, key: string, note?: string): Promise<CreditResult>;
  reserve(userId: string, runId: string, amount: number, key: string): Promise<CreditResult>;
  charge(runId: string, stepIndex: number | null, amount: number, tokens: number, key: string): Promise<CreditResult>;
  settle(runId: string, key: string): Promise<CreditResult>;
  release(runId: string, key: string): Promise<CreditResult>;
  /** Reserves the run's credits and, only when they were, records `status` and `fields` on its record: one call (run_open). */
  openRun(userId: string, runId: string, amount: number, key: string, status: RunStatus, fields?: RunFields): Promise<CreditResult>;
  /** Settles or releases the run's reservation under `key` (or neither), then records `status` and `fields`: one call (run_close). */
  closeRun(runId: string, credits: 'settle' | 'release' | 'none', key: string, status: RunStatus, fields?: RunFields): Promise<CreditResult>;
  refund(runId: string, amount: number, key: string, note?: string): Promise<CreditResult>;
  /**
   * Holds `amount` of the run's reservation before a step (stepIndex) or an LLM call (null) starts:
   * refused with budget_exhausted when the run's unheld, uncharged reservation is smaller, with
   * budget_exceeded when the monthly cost limit (or, when `tokens` > 0, the daily token limit) leaves no room.
   */
  hold(runId: string, stepIndex: number | null, amount: number, tokens: number, key: string): Promise<CreditResult>;
  /** Settles hold `holdKey`: charges min(amount, hold) under `chargeKey` and frees the rest. Never refused for budget. */
  settleHold(holdKey: string, amount: number, tokens: number, chargeKey: string): Promise<CreditResult>;
  /** A paid step's start in one call: hold(step.index, hold) and, when it is granted, recordStep(step as running). */
  stepBegin(step: StepRowInput, hold: StepHoldInput): Promise<CreditResult>;
  /** A paid step's end in one call: recordStep(step) with its final status, then settleHold(settle). */
  stepFinish(step: FinishedStepInput, settle: StepSettleInput): Promise<CreditResult>;
  /** Adds credits to an active run reservation (an approved budget increase). */
  extend(runId: string, amount: number, key: string): Promise<CreditResult>;
  setLimits(userId: string, limits: { dailyTokenLimit: number | null; monthlyCostLimit: number | null }): Promise<void>;
  /** Removes the user's own limits (the defaults apply again); false when they had none. */
  clearLimits(userId: string): Promise<boolean>;
  balance(userId: string): Promise<Balance>;
  /** The user's account, limits resolved against the store's defaults. */
  account(userId: string): Promise<Account>;
  /** An operator's grant (amount > 0) or deduction (amount < 0), once per key, recorded with `actor` and `note`. */
  adjust(userId: string, amount: number, key: string, note: string, actor: string): Promise<CreditResult>;
  /** Makes the user known, granting `amount` the first time only (NEW_USER_CREDITS). */
  welcome(userId: string, amount: number): Promise<{ granted: boolean }>;
  /** The user's ledger, newest first: rows before id `before` (all when undefined), at most `limit` (≤ 500). */
  ledger(userId: string, before: number | undefined, limit: number): Promise<LedgerEntry[]>;

  createRun(run: RunRecordInput): Promise<{ created: boolean }>;
  updateRun(id: string, status: RunStatus | null, fields?: RunFields): Promise<void>;
  recordStep(step: StepRecordInput): Promise<void>;
  /** The result record a step's end kept (recordStep or stepFinish with `result`), or undefined. */
  stepResult(runId: string, index: number, epoch?: string): Promise<unknown>;
  getRun(id: string): Promise<RunRecord | undefined>;
  /**
   * Records run `run.id` as queued unless its user already has `maxActive` runs that have not
   * ended (exact under concurrency: admissions of one user serialise). A `created` record of
   * the same user (the seeds' create-then-start) moves to `queued`; any other existing record
   * is left as it is (`created: false`).
   */
  admitRun(run: RunRecordInput, maxActive: number): Promise<AdmitResult>;
  /** Run records `queued` for longer than `olderThanS` (oldest first, at most `limit`, after `after`): candidates for repair. */
  listStaleQueued(olderThanS: number, limit: number, after?: StaleCursor): Promise<{ id: string; user_id: string; updated_at: string }[]>;
  /**
   * Reopens a run for `epoch` (a reset execution's run id), once per epoch: a closed record
   * back to running, a closed reservation taken again as large as the run's first. Refused
   * (insufficient_credits) leaves the record closed and the epoch taken.
   */
  reopenRun(runId: string, epoch: string): Promise<ReopenResult>;
  /** Fails a record that is still `queued` and stale; false when it moved on meanwhile. */
  failStaleQueued(id: string, olderThanS: number, error: { code: string; message: string }): Promise<boolean>;
  /** Appends one row to the audit trail (`agent_audit`); answers its id and time. */
  recordAudit(entry: AuditEntryInput): Promise<{ id: number; created_at: string }>;
  /** A run's audit rows, oldest first. */
  listAudit(runId: string): Promise<AuditEntry[]>;
  /** How many run records are in each status (for the `agentrun_runs` gauge); statuses with none may be absent. */
  countRunsByStatus(): Promise<Partial<Record<RunStatus, number>>>;
  /** A user's runs, newest first (run ids sort by creation), `limit` at most. */
  listRuns(userId: string, query: ListRunsQuery): Promise<RunRecord[]>;

  close(): Promise<void>;
}
