/**
 * The Supabase adapter: supabase-js with the service-role key, calling the same
 * SQL functions through PostgREST RPC. The service role bypasses row-level
 * security, so every call here names the user or run it acts on explicitly.
 */
import { createClient } from '@supabase/supabase-js';
import { Agent, fetch as undiciFetch } from 'undici';
import { storable } from './storable.ts';
import { NO_LIMIT_DEFAULTS } from './types.ts';
import type { Account, AdmitResult, AuditEntry, AuditEntryInput, Balance, CreditResult, LedgerEntry, ListRunsQuery, ReopenResult, RunFields, RunRecord, RunRecordInput, SchemaInfo, StaleCursor, FinishedStepInput, StepHoldInput, StepRecordInput, StepRowInput, StepSettleInput, Store } from './types.ts';
import type { LimitDefaults } from '../shared/config.ts';
import { RUN_STATUSES } from '../shared/run.ts';
import type { RunStatus } from '../shared/run.ts';

export interface SupabaseStoreOptions {
  url: string;
  serviceRoleKey: string;
  /** Limits of users without their own (DAILY_TOKEN_LIMIT, MONTHLY_COST_LIMIT); none by default. */
  limitDefaults?: LimitDefaults;
}

/** A PostgREST error surfaced by supabase-js, kept with its code (e.g. PGRST202 = function missing). */
export class SupabaseCallError extends Error {
  readonly code: string | undefined;
  constructor(fn: string, err: { message: string; code?: string; details?: string | null; hint?: string | null }) {
    super(`${fn}: ${err.message}${err.code ? ` (${err.code})` : ''}`);
    this.name = 'SupabaseCallError';
    this.code = err.code;
  }
}

function serviceClient(opts: SupabaseStoreOptions, agent: Agent) {
  return createClient(opts.url, opts.serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: {
      fetch: ((input: Parameters<typeof undiciFetch>[0], init?: Parameters<typeof undiciFetch>[1]) =>
        undiciFetch(input, { ...init, dispatcher: agent })) as unknown as typeof fetch,
    },
  });
}

/** A step's result record as step_record's and step_finish's last two arguments (none: the calls of before). */
const resultArgs = (s: StepRecordInput): Record<string, unknown> => (s.result ? { p_epoch: s.result.epoch ?? null, p_record: s.result.json } : {});

export class SupabaseStore implements Store {
  readonly kind = 'supabase' as const;
  private readonly client: ReturnType<typeof serviceClient>;
  /** Our own connection pool, so close() ends its keep-alive sockets instead of leaving the process waiting on them. */
  private readonly agent = new Agent({ keepAliveTimeout: 10_000, connections: 32 });

  /** The limit defaults, as the enforcing SQL functions take them. */
  private readonly defaults: { p_default_daily: number | null; p_default_monthly: number | null };

  constructor(opts: SupabaseStoreOptions) {
    this.client = serviceClient(opts, this.agent);
    const d = opts.limitDefaults ?? NO_LIMIT_DEFAULTS;
    this.defaults = { p_default_daily: d.dailyTokenLimit, p_default_monthly: d.monthlyCostLimit };
  }

  private async fn<T>(name: string, args: Record<string, unknown>): Promise<T> {
    const res = await this.client.rpc(name, args);
    if (res.error) throw new SupabaseCallError(name, res.error);
    const data: unknown = res.data;
    return data as T;
  }

  async schemaInfo(): Promise<SchemaInfo> {
    try {
      return await this.fn<SchemaInfo>('agentrun_schema_info', {});
    } catch (err) {
      // No function at all: an empty or foreign database. Report it as such.
      if (err instanceof SupabaseCallError && (err.code === 'PGRST202' || err.code === '42883')) return { columns: {}, functions: [], migration: null };
      throw err;
    }
  }

  grant(userId: string, amount: number, key: string, note?: string): Promise<CreditResult> {
    return this.fn('credit_grant', { p_user_id: userId, p_amount: amount, p_idempotency_key: key, p_note: note ?? null });
  }
  reserve(userId: string, runId: string, amount: number, key: string): Promise<CreditResult> {
    return this.fn('credit_reserve', { p_user_id: userId, p_run_id: runId, p_amount: amount, p_idempotency_key: key, ...this.defaults });
  }
  charge(runId: string, stepIndex: number | null, amount: number, tokens: number, key: string): Promise<CreditResult> {
    return this.fn('credit_charge', { p_run_id: runId, p_step_index: stepIndex, p_amount: amount, p_tokens: tokens, p_idempotency_key: key, ...this.defaults });
  }
  hold(runId: string, stepIndex: number | null, amount: number, tokens: number, key: string): Promise<CreditResult> {
    return this.fn('credit_hold', { p_run_id: runId, p_step_index: stepIndex, p_amount: amount, p_tokens: tokens, p_idempotency_key: key, ...this.defaults });
  }
  settleHold(holdKey: string, amount: number, tokens: number, chargeKey: string): Promise<CreditResult> {
    return this.fn('credit_settle_hold', { p_hold_key: holdKey, p_amount: amount, p_tokens: tokens, p_charge_key: chargeKey });
  }
  settle(runId: string, key: string): Promise<CreditResult> {
    return this.fn('credit_settle', { p_run_id: runId, p_idempotency_key: key });
  }
  release(runId: string, key: string): Promise<CreditResult> {
    return this.fn('credit_release', { p_run_id: runId, p_idempotency_key: key });
  }
  refund(runId: string, amount: number, key: string, note?: string): Promise<CreditResult> {
    return this.fn('credit_refund', { p_run_id: runId, p_amount: amount, p_idempotency_key: key, p_note: note ?? null });
  }
  extend(runId: string, amount: number, key: string): Promise<CreditResult> {
    return this.fn('credit_extend', { p_run_id: runId, p_amount: amount, p_idempotency_key: key, ...this.defaults });
  }
  async setLimits(userId: string, limits: { dailyTokenLimit: number | null; monthlyCostLimit: number | null }): Promise<void> {
    await this.fn('credit_set_limits', { p_user_id: userId, p_daily_token_limit: limits.dailyTokenLimit, p_monthly_cost_limit: limits.monthlyCostLimit });
  }
  async balance(userId: string): Promise<Balance> {
    const r = await this.fn<{ available: number; reserved: number }>('credit_balance', { p_user_id: userId });
    return { available: r.available, reserved: r.reserved };
  }
  async clearLimits(userId: string): Promise<boolean> {
    return (await this.fn<{ cleared: boolean }>('credit_clear_limits', { p_user_id: userId })).cleared;
  }
  account(userId: string): Promise<Account> {
    return this.fn('credit_account', { p_user_id: userId, ...this.defaults });
  }
  adjust(userId: string, amount: number, key: string, note: string, actor: string): Promise<CreditResult> {
    return this.fn('credit_adjust', { p_user_id: userId, p_amount: amount, p_idempotency_key: key, p_note: note, p_actor: actor });
  }
  welcome(userId: string, amount: number): Promise<{ granted: boolean }> {
    return this.fn('credit_welcome', { p_user_id: userId, p_amount: amount });
  }
  ledger(userId: string, before: number | undefined, limit: number): Promise<LedgerEntry[]> {
    return this.fn('credit_ledger_page', { p_user_id: userId, p_before: before ?? null, p_limit: limit });
  }

  async createRun(run: RunRecordInput): Promise<{ created: boolean }> {
    return this.fn('run_create', { p_id: run.id, p_user_id: run.userId, p_prompt: run.prompt, p_priority: run.priority ?? 0, p_status: run.status ?? 'queued' });
  }
  openRun(userId: string, runId: string, amount: number, key: string, status: RunStatus, fields: RunFields = {}): Promise<CreditResult> {
    return this.fn('run_open', { p_user_id: userId, p_run_id: runId, p_amount: amount, p_idempotency_key: key, ...this.defaults, p_status: status, p_fields: storable(fields) });
  }
  closeRun(runId: string, credits: 'settle' | 'release' | 'none', key: string, status: RunStatus, fields: RunFields = {}): Promise<CreditResult> {
    return this.fn('run_close', { p_run_id: runId, p_credits: credits, p_idempotency_key: key, p_status: status, p_fields: storable(fields) });
  }
  async updateRun(id: string, status: RunStatus | null, fields: RunFields = {}): Promise<void> {
    await this.fn('run_update', { p_id: id, p_status: status, p_fields: storable(fields) });
  }
  stepBegin(s: StepRowInput, h: StepHoldInput): Promise<CreditResult> {
    return this.fn('step_begin', {
      p_run_id: s.runId, p_step_index: s.index, p_user_id: s.userId, p_tool: s.tool, p_input: storable(s.input ?? {}), p_attempt: s.attempt,
      p_amount: h.amount, p_tokens: h.tokens, p_hold_key: h.key, ...this.defaults,
    });
  }
  stepFinish(s: FinishedStepInput, h: StepSettleInput): Promise<CreditResult> {
    return this.fn('step_finish', {
      p_run_id: s.runId, p_step_index: s.index, p_user_id: s.userId, p_tool: s.tool, p_input: storable(s.input ?? {}), p_status: s.status,
      p_attempt: s.attempt, p_output_summary: storable(s.outputSummary) ?? null, p_duration_ms: s.durationMs ?? null,
      p_hold_key: h.holdKey, p_amount: h.amount, p_tokens: h.tokens, p_charge_key: h.chargeKey, ...resultArgs(s),
    });
  }
  async recordStep(s: StepRecordInput): Promise<void> {
    await this.fn('step_record', {
      p_run_id: s.runId, p_step_index: s.index, p_user_id: s.userId, p_tool: s.tool, p_input: storable(s.input ?? {}),
      p_status: s.status, p_attempt: s.attempt, p_output_summary: storable(s.outputSummary) ?? null, p_duration_ms: s.durationMs ?? null, ...resultArgs(s),
    });
  }
  async stepResult(runId: string, index: number, epoch?: string): Promise<unknown> {
    const json = await this.fn<string | null>('step_result', { p_run_id: runId, p_step_index: index, p_epoch: epoch ?? null });
    return json === null ? undefined : JSON.parse(json) as unknown;
  }
  async countRunsByStatus(): Promise<Partial<Record<RunStatus, number>>> {
    const counts = await Promise.all(RUN_STATUSES.map(async (status) => {
      const res = await this.client.from('agent_runs').select('id', { count: 'exact', head: true }).eq('status', status);
      if (res.error) throw new Error(`supabase count runs: ${res.error.message}`);
      return [status, res.count ?? 0] as const;
    }));
    return Object.fromEntries(counts);
  }
  async getRun(id: string): Promise<RunRecord | undefined> {
    const res = await this.client.from('agent_runs').select('*').eq('id', id).maybeSingle();
    if (res.error) throw new SupabaseCallError('agent_runs', res.error);
    const data: unknown = res.data;
    return (data ?? undefined) as RunRecord | undefined;
  }
  async admitRun(run: RunRecordInput, maxActive: number): Promise<AdmitResult> {
    return this.fn('run_admit', { p_id: run.id, p_user_id: run.userId, p_prompt: run.prompt, p_priority: run.priority ?? 0, p_max_active: maxActive });
  }
  reopenRun(runId: string, epoch: string): Promise<ReopenResult> {
    return this.fn('run_reopen', { p_run_id: runId, p_epoch: epoch });
  }
  listStaleQueued(olderThanS: number, limit: number, after?: StaleCursor): Promise<{ id: string; user_id: string; updated_at: string }[]> {
    return this.fn('run_list_stale_queued_after', { p_older_than_s: olderThanS, p_limit: limit, p_after_updated: after?.updatedAt ?? null, p_after_id: after?.id ?? null });
  }
  async failStaleQueued(id: string, olderThanS: number, error: { code: string; message: string }): Promise<boolean> {
    return (await this.fn<{ failed: boolean }>('run_fail_stale', { p_id: id, p_older_than_s: olderThanS, p_error: error })).failed;
  }
  recordAudit(e: AuditEntryInput): Promise<{ id: number; created_at: string }> {
    return this.fn('audit_record', {
      p_run_id: e.runId, p_user_id: e.userId, p_actor: e.actor, p_actor_kind: e.actorKind, p_action: e.action, p_detail: storable(e.detail ?? {}), p_source_key: e.sourceKey ?? null,
    });
  }
  listAudit(runId: string): Promise<AuditEntry[]> {
    return this.fn('audit_list', { p_run_id: runId });
  }
  async listRuns(userId: string, q: ListRunsQuery): Promise<RunRecord[]> {
    let query = this.client.from('agent_runs').select('*').eq('user_id', userId);
    if (q.before !== undefined) query = query.lt('id', q.before);
    if (q.statuses !== undefined) query = query.in('status', [...q.statuses]);
    const res = await query.order('id', { ascending: false }).limit(q.limit);
    if (res.error) throw new SupabaseCallError('agent_runs', res.error);
    const data: unknown = res.data;
    return data as RunRecord[];
  }

  async close(): Promise<void> {
    // No realtime channels are ever opened (removeAllChannels would arm a 10 s timer for nothing).
    await this.agent.close();
  }
}
