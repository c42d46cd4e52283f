/**
 * The records-and-credits store. Two adapters (Postgres through `pg`, Supabase
 * through supabase-js RPC) call the same SQL functions, so behaviour lives once,
 * in the migrations.
 */
import type { RunStatus } from '../shared/run.ts';

export type CreditRefusalReason =
  | 'insufficient_credits' | 'budget_exceeded' | 'budget_exhausted'
  | 'no_reservation' | 'reservation_closed' | 'invalid_amount';

export type CreditResult =
  | { ok: true; replayed: boolean; available: number; reserved: number; run_reserved?: number; run_charged?: number; returned?: number; reservation?: string }
  | { ok: false; reason: CreditRefusalReason; message: string; available: number; reserved: number };

export interface Balance { available: number; reserved: number }

export interface RunRecordInput { id: string; userId: string; prompt: string; priority?: number; status?: RunStatus }
export interface RunFields { plan?: unknown; result_summary?: string; error?: { code: string; message: string } | null }
export interface StepRecordInput {
  runId: string; index: number; userId: string; tool: string; input: unknown;
  status: 'running' | 'completed' | 'failed'; attempt: number; outputSummary?: string; durationMs?: number;
}

export interface RunRecord {
  id: string; user_id: string; prompt: string; status: RunStatus; priority: number; plan: unknown;
  result_summary: string | null; error: unknown; credits_charged: number; tokens_in: number; tokens_out: number;
  created_at: string; updated_at: string; started_at: string | null; finished_at: string | null;
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
  refund(runId: string, amount: number, key: string, note?: string): Promise<CreditResult>;
  /** Adds credits to an active run reservation (an approved budget increase). */
  extend(runId: string, amount: number, key: string): Promise<CreditResult>;
  setLimits(userId: string, limits: { dailyTokenLimit: number | null; monthlyCostLimit: number | null }): Promise<void>;
  balance(userId: string): Promise<Balance>;

  createRun(run: RunRecordInput): Promise<{ created: boolean }>;
  updateRun(id: string, status: RunStatus | null, fields?: RunFields): Promise<void>;
  recordStep(step: StepRecordInput): Promise<void>;
  getRun(id: string): Promise<RunRecord | undefined>;

  close(): Promise<void>;
}
