/**
 * What the code needs from the database, checked at every start: a process
 * whose schema is missing something refuses to start and names it (the earlier
 * system failed every job on `credit_balances.available_credits does not exist`).
 */
import type { SchemaInfo } from './types.ts';

/** The newest migration this code was written against (a unit test keeps it equal to the last file). */
export const LATEST_MIGRATION = '1796400000000_step-results';

export const MIGRATE_HINT = 'apply the migrations: ./dev migrate (or npm run migrate with DATABASE_URL set)';

export const REQUIRED_COLUMNS: Record<string, readonly string[]> = {
  agent_runs: ['id', 'user_id', 'prompt', 'status', 'priority', 'plan', 'result_summary', 'error', 'tokens_in', 'tokens_out',
    'credits_charged', 'created_at', 'updated_at', 'started_at', 'finished_at'],
  agent_steps: ['run_id', 'step_index', 'user_id', 'tool', 'input', 'output_summary', 'status', 'attempts', 'started_at',
    'finished_at', 'duration_ms', 'tokens_in', 'tokens_out', 'credits'],
  credit_balances: ['user_id', 'available_credits', 'reserved_credits', 'updated_at'],
  credit_ledger: ['id', 'user_id', 'run_id', 'step_index', 'kind', 'amount', 'available_delta', 'reserved_delta', 'tokens',
    'idempotency_key', 'created_at', 'actor'],
  credit_reservations: ['run_id', 'user_id', 'reserved', 'charged', 'refunded', 'held', 'status'],
  credit_holds: ['idempotency_key', 'run_id', 'user_id', 'step_index', 'amount', 'tokens', 'status', 'charged', 'charge_key'],
  usage_limits: ['user_id', 'daily_token_limit', 'monthly_cost_limit'],
  credit_usage_days: ['user_id', 'day', 'spent', 'tokens'],
  credit_open_holds: ['user_id', 'held'],
  agent_step_results: ['run_id', 'step_index', 'epoch', 'user_id', 'record', 'created_at'],
  agent_audit: ['id', 'run_id', 'user_id', 'actor', 'actor_kind', 'action', 'detail', 'source_key', 'created_at'],
  pgmigrations: ['name'],
};

export const REQUIRED_FUNCTIONS = [
  'credit_grant', 'credit_reserve', 'credit_charge', 'credit_settle', 'credit_release', 'credit_refund',
  'credit_set_limits', 'credit_clear_limits', 'credit_balance', 'credit_account', 'credit_adjust', 'credit_welcome', 'credit_ledger_page', 'credit_extend', 'credit_hold', 'credit_settle_hold', 'step_begin', 'step_finish', 'run_open', 'run_close', 'run_create', 'run_admit', 'run_update', 'run_list_stale_queued', 'run_list_stale_queued_after', 'run_fail_stale', 'run_reopen', 'step_record', 'step_result', 'audit_record', 'audit_list', 'agentrun_schema_info',
] as const;

/** Every problem, most fundamental first; empty when the schema is usable. Pure. */
export function schemaProblems(info: SchemaInfo, latest = LATEST_MIGRATION): string[] {
  const problems: string[] = [];
  for (const [table, columns] of Object.entries(REQUIRED_COLUMNS)) {
    const have = info.columns[table];
    if (!have) {
      problems.push(`table ${table} is missing`);
      continue;
    }
    for (const c of columns) if (!have.includes(c)) problems.push(`column ${table}.${c} is missing`);
  }
  for (const f of REQUIRED_FUNCTIONS) if (!info.functions.includes(f)) problems.push(`function ${f} is missing`);
  if (problems.length === 0 && (info.migration === null || info.migration < latest)) {
    problems.push(`database is at migration ${info.migration ?? '(none)'}, the code needs ${latest}`);
  }
  return problems;
}

/** One line for a refusal to start. */
export function schemaRefusal(problems: string[], where: string): string {
  const shown = problems.slice(0, 3).join('; ');
  const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
  return `database ${where} is not usable: ${shown}${more} — ${MIGRATE_HINT}`;
}
