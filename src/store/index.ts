/** Builds the configured store and checks its schema at start. */
import { PgStore } from './pg.ts';
import { schemaProblems, schemaRefusal } from './schema.ts';
import type { Store } from './types.ts';
import { PreflightError, withTimeout } from '../infra/preflight.ts';
import type { Config, LimitDefaults } from '../shared/config.ts';

export type { Store } from './types.ts';

/**
 * The store of `cfg`; `limitDefaults` (config.credits.defaultLimits) apply to users without limits of their own.
 * The Supabase adapter (supabase-js and undici: about 100 ms of a process's start) is loaded only when configured.
 */
export async function createStore(cfg: Config['store'], limitDefaults: LimitDefaults): Promise<Store> {
  if (cfg.kind === 'postgres') return new PgStore({ databaseUrl: cfg.databaseUrl, maxConnections: cfg.poolMax, preparedStatements: cfg.preparedStatements, limitDefaults });
  const { SupabaseStore } = await import('./supabase.ts');
  return new SupabaseStore({ ...cfg, limitDefaults });
}

/** Where the store points, for messages; never includes credentials. */
export function describeStore(cfg: Config['store']): string {
  if (cfg.kind === 'supabase') return `Supabase ${cfg.url}`;
  try {
    const u = new URL(cfg.databaseUrl);
    return `PostgreSQL ${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'PostgreSQL (unparseable DATABASE_URL)';
  }
}

/** Refuses to start, with one line, when the database is unreachable or its schema is missing anything the code uses. */
export async function checkStore(store: Store, cfg: Config['store'], timeoutMs = 10_000): Promise<void> {
  const where = describeStore(cfg);
  let info;
  try {
    info = await withTimeout('schema check', timeoutMs, store.schemaInfo());
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const why = (e.message || e.code || String(err)).split('\n')[0];
    if (e.code === '28P01' || e.code === '28000' || e.code?.startsWith('PGRST30')) throw new PreflightError(`${where} rejected the credentials (check ${cfg.kind === 'postgres' ? 'DATABASE_URL' : 'SUPABASE_SERVICE_ROLE_KEY'})`, { cause: err });
    if (cfg.kind === 'supabase' && /: </.test(why ?? '')) {
      throw new PreflightError(`${where} does not serve PostgREST under /rest/v1 (check SUPABASE_URL)`, { cause: err });
    }
    if (e.code === '3D000') throw new PreflightError(`${where}: ${why} (create it, or fix DATABASE_URL)`, { cause: err });
    throw new PreflightError(`${where} is unreachable: ${why} (start it with ./dev up, or set ${cfg.kind === 'postgres' ? 'DATABASE_URL' : 'SUPABASE_URL'})`, { cause: err });
  }
  const problems = schemaProblems(info);
  if (problems.length > 0) throw new PreflightError(schemaRefusal(problems, where));
}
