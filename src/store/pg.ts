/** The Postgres adapter: `pg` against DATABASE_URL (local Postgres, or Supabase's direct connection string). */
import pg from 'pg';
import { storable } from './storable.ts';
import { NO_LIMIT_DEFAULTS } from './types.ts';
import type { Account, AdmitResult, AuditEntry, AuditEntryInput, Balance, CreditResult, LedgerEntry, ListRunsQuery, ReopenResult, RunFields, RunRecord, RunRecordInput, SchemaInfo, StaleCursor, FinishedStepInput, StepHoldInput, StepRecordInput, StepRowInput, StepSettleInput, Store } from './types.ts';
import type { LimitDefaults } from '../shared/config.ts';
import type { RunStatus } from '../shared/run.ts';

export interface PgStoreOptions {
  databaseUrl: string;
  maxConnections?: number;
  statementTimeoutMs?: number;
  /** Prepare each function call once per connection (default); off behind a transaction-mode pooler. */
  preparedStatements?: boolean;
  /** Limits of users without their own (DAILY_TOKEN_LIMIT, MONTHLY_COST_LIMIT); none by default. */
  limitDefaults?: LimitDefaults;
}

const RUN_COLUMNS = `id, user_id, prompt, status, priority, plan, result_summary, error, credits_charged::float8 AS credits_charged,
  tokens_in::float8 AS tokens_in, tokens_out::float8 AS tokens_out, created_at, updated_at, started_at, finished_at, epoch`;

/** A jsonb argument that may carry untrusted text: made storable (src/store/storable.ts), then serialized. */
const jsonArg = (value: unknown): string => JSON.stringify(storable(value));

/** A step's result record as step_record's and step_finish's last two arguments (none: the calls of before). */
const resultArgs = (s: StepRecordInput): unknown[] => (s.result ? [s.result.epoch ?? null, s.result.json] : []);

export class PgStore implements Store {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly prepared: boolean;
  /** The limit defaults, as the enforcing SQL functions take them. */
  private readonly defaults: [number | null, number | null];

  constructor(opts: PgStoreOptions) {
    this.prepared = opts.preparedStatements ?? true;
    const d = opts.limitDefaults ?? NO_LIMIT_DEFAULTS;
    this.defaults = [d.dailyTokenLimit, d.monthlyCostLimit];
    this.pool = new pg.Pool({
      connectionString: opts.databaseUrl,
      max: opts.maxConnections ?? 10,
      connectionTimeoutMillis: 5000,
      statement_timeout: opts.statementTimeoutMs ?? 15_000,
      application_name: 'agentrun',
    });
    // An idle client losing its connection must not crash the process; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  private async fn<T>(name: string, args: unknown[]): Promise<T> {
    const placeholders = args.map((_, i) => `$${i + 1}`).join(', ');
    const text = `SELECT ${name}(${placeholders}) AS result`;
    // A named statement is parsed and planned once per connection, then only bound and run.
    const r = await this.pool.query<{ result: T }>(this.prepared ? { name: `agentrun_${name}_${args.length}`, text, values: args } : { text, values: args });
    return r.rows[0]!.result;
  }

  async schemaInfo(): Promise<SchemaInfo> {
    const cols = await this.pool.query<{ table_name: string; cols: string[] }>(
      `SELECT table_name, array_agg(column_name::text ORDER BY ordinal_position) AS cols
         FROM information_schema.columns WHERE table_schema = 'public' GROUP BY table_name`);
    const fns = await this.pool.query<{ proname: string }>(
      `SELECT DISTINCT p.proname::text AS proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'`);
    const columns = Object.fromEntries(cols.rows.map((r) => [r.table_name, r.cols]));
    let migration: string | null = null;
    if (columns.pgmigrations) {
      migration = (await this.pool.query<{ name: string | null }>('SELECT max(name) AS name FROM pgmigrations')).rows[0]!.name;
    }
    return { columns, functions: fns.rows.map((r) => r.proname), migration };
  }

  grant(userId: string, amount: number, key: string, note?: string): Promise<CreditResult> {
    return this.fn('credit_grant', [userId, amount, key, note ?? null]);
  }
  reserve(userId: string, runId: string, amount: number, key: string): Promise<CreditResult> {
    return this.fn('credit_reserve', [userId, runId, amount, key, ...this.defaults]);
  }
  charge(runId: string, stepIndex: number | null, amount: number, tokens: number, key: string): Promise<CreditResult> {
    return this.fn('credit_charge', [runId, stepIndex, amount, tokens, key, ...this.defaults]);
  }
  hold(runId: string, stepIndex: number | null, amount: number, tokens: number, key: string): Promise<CreditResult> {
    return this.fn('credit_hold', [runId, stepIndex, amount, tokens, key, ...this.defaults]);
  }
  settleHold(holdKey: string, amount: number, tokens: number, chargeKey: string): Promise<CreditResult> {
    return this.fn('credit_settle_hold', [holdKey, amount, tokens, chargeKey]);
  }
  settle(runId: string, key: string): Promise<CreditResult> {
    return this.fn('credit_settle', [runId, key]);
  }
  release(runId: string, key: string): Promise<CreditResult> {
    return this.fn('credit_release', [runId, key]);
  }
  refund(runId: string, amount: number, key: string, note?: string): Promise<CreditResult> {
    return this.fn('credit_refund', [runId, amount, key, note ?? null]);
  }
  extend(runId: string, amount: number, key: string): Promise<CreditResult> {
    return this.fn('credit_extend', [runId, amount, key, ...this.defaults]);
  }
  async setLimits(userId: string, limits: { dailyTokenLimit: number | null; monthlyCostLimit: number | null }): Promise<void> {
    await this.fn('credit_set_limits', [userId, limits.dailyTokenLimit, limits.monthlyCostLimit]);
  }
  async clearLimits(userId: string): Promise<boolean> {
    return (await this.fn<{ cleared: boolean }>('credit_clear_limits', [userId])).cleared;
  }
  async balance(userId: string): Promise<Balance> {
    const r = await this.fn<{ available: number; reserved: number }>('credit_balance', [userId]);
    return { available: r.available, reserved: r.reserved };
  }
  account(userId: string): Promise<Account> {
    return this.fn('credit_account', [userId, ...this.defaults]);
  }
  adjust(userId: string, amount: number, key: string, note: string, actor: string): Promise<CreditResult> {
    return this.fn('credit_adjust', [userId, amount, key, note, actor]);
  }
  welcome(userId: string, amount: number): Promise<{ granted: boolean }> {
    return this.fn('credit_welcome', [userId, amount]);
  }
  ledger(userId: string, before: number | undefined, limit: number): Promise<LedgerEntry[]> {
    return this.fn('credit_ledger_page', [userId, before ?? null, limit]);
  }

  openRun(userId: string, runId: string, amount: number, key: string, status: RunStatus, fields: RunFields = {}): Promise<CreditResult> {
    return this.fn('run_open', [userId, runId, amount, key, ...this.defaults, status, jsonArg(fields)]);
  }
  closeRun(runId: string, credits: 'settle' | 'release' | 'none', key: string, status: RunStatus, fields: RunFields = {}): Promise<CreditResult> {
    return this.fn('run_close', [runId, credits, key, status, jsonArg(fields)]);
  }
  async createRun(run: RunRecordInput): Promise<{ created: boolean }> {
    return this.fn('run_create', [run.id, run.userId, run.prompt, run.priority ?? 0, run.status ?? 'queued']);
  }
  async updateRun(id: string, status: RunStatus | null, fields: RunFields = {}): Promise<void> {
    await this.fn('run_update', [id, status, jsonArg(fields)]);
  }
  stepBegin(s: StepRowInput, h: StepHoldInput): Promise<CreditResult> {
    return this.fn('step_begin', [s.runId, s.index, s.userId, s.tool, jsonArg(s.input ?? {}), s.attempt, h.amount, h.tokens, h.key, ...this.defaults]);
  }
  stepFinish(s: FinishedStepInput, h: StepSettleInput): Promise<CreditResult> {
    return this.fn('step_finish', [s.runId, s.index, s.userId, s.tool, jsonArg(s.input ?? {}), s.status, s.attempt,
      storable(s.outputSummary) ?? null, s.durationMs ?? null, h.holdKey, h.amount, h.tokens, h.chargeKey, ...resultArgs(s)]);
  }
  async recordStep(s: StepRecordInput): Promise<void> {
    await this.fn('step_record', [s.runId, s.index, s.userId, s.tool, jsonArg(s.input ?? {}), s.status, s.attempt,
      storable(s.outputSummary) ?? null, s.durationMs ?? null, ...resultArgs(s)]);
  }
  async stepResult(runId: string, index: number, epoch?: string): Promise<unknown> {
    const json = await this.fn<string | null>('step_result', [runId, index, epoch ?? null]);
    return json === null ? undefined : JSON.parse(json) as unknown;
  }
  async countRunsByStatus(): Promise<Partial<Record<RunStatus, number>>> {
    const r = await this.pool.query<{ status: RunStatus; n: number }>('SELECT status, count(*)::int AS n FROM agent_runs GROUP BY status');
    return Object.fromEntries(r.rows.map((row) => [row.status, row.n]));
  }
  async getRun(id: string): Promise<RunRecord | undefined> {
    const r = await this.pool.query<RunRecord>(`SELECT ${RUN_COLUMNS} FROM agent_runs WHERE id = $1`, [id]);
    return r.rows[0];
  }

  async admitRun(run: RunRecordInput, maxActive: number): Promise<AdmitResult> {
    return this.fn('run_admit', [run.id, run.userId, run.prompt, run.priority ?? 0, maxActive]);
  }
  listStaleQueued(olderThanS: number, limit: number, after?: StaleCursor): Promise<{ id: string; user_id: string; updated_at: string }[]> {
    return this.fn('run_list_stale_queued_after', [olderThanS, limit, after?.updatedAt ?? null, after?.id ?? null]);
  }
  reopenRun(runId: string, epoch: string): Promise<ReopenResult> {
    return this.fn('run_reopen', [runId, epoch]);
  }
  async failStaleQueued(id: string, olderThanS: number, error: { code: string; message: string }): Promise<boolean> {
    return (await this.fn<{ failed: boolean }>('run_fail_stale', [id, olderThanS, JSON.stringify(error)])).failed;
  }
  recordAudit(e: AuditEntryInput): Promise<{ id: number; created_at: string }> {
    return this.fn('audit_record', [e.runId, e.userId, e.actor, e.actorKind, e.action, jsonArg(e.detail ?? {}), e.sourceKey ?? null]);
  }
  listAudit(runId: string): Promise<AuditEntry[]> {
    return this.fn('audit_list', [runId]);
  }
  async listRuns(userId: string, q: ListRunsQuery): Promise<RunRecord[]> {
    const where = ['user_id = $1'];
    const args: unknown[] = [userId];
    if (q.before !== undefined) {
      args.push(q.before);
      where.push(`id < $${args.length}`);
    }
    if (q.statuses !== undefined) {
      args.push(q.statuses);
      where.push(`status = ANY($${args.length}::text[])`);
    }
    args.push(q.limit);
    const r = await this.pool.query<RunRecord>(
      `SELECT ${RUN_COLUMNS} FROM agent_runs WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT $${args.length}`, args);
    return r.rows;
  }

  /** For tests and tooling: a raw query on the same pool. */
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>(text, values);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
