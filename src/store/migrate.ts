/**
 * Applies the SQL migrations in migrations/ with node-pg-migrate. One entry
 * point used by `./dev migrate`, `./dev up`, `npm run migrate` and the tests.
 */
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

export interface MigrateOptions {
  databaseUrl: string;
  /** Receives progress lines; silent by default. */
  log?: (line: string) => void;
  /** How long a name that does not resolve is tried again (default 30 s). */
  connectDeadlineMs?: number;
}

/**
 * Name lookups that fail for a moment are tried again: a container network's DNS under
 * load answers "try again" (EAI_AGAIN) or, before it has the name, "no such host"
 * (ENOTFOUND). A name that stays unknown still fails, after the deadline, saying so.
 */
const TRANSIENT_CONNECT = new Set(['EAI_AGAIN', 'ENOTFOUND']);

/** One connection for the whole job, so a name that resolved once is not looked up again. */
async function connect(databaseUrl: string, log: (line: string) => void, deadlineMs = 30_000): Promise<pg.Client> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const client = new pg.Client({ connectionString: databaseUrl });
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code;
      if (!code || !TRANSIENT_CONNECT.has(code) || Date.now() > deadline) throw err;
      log(`connecting: ${(err as Error).message}; trying again`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Applies every pending migration in one transaction; returns the names applied. */
export async function migrate(opts: MigrateOptions): Promise<string[]> {
  const log = opts.log ?? (() => undefined);
  const client = await connect(opts.databaseUrl, log, opts.connectDeadlineMs);
  try {
    return await migrateWith(client, log);
  } finally {
    await client.end();
  }
}

async function migrateWith(client: pg.Client, log: (line: string) => void): Promise<string[]> {
  const applied = await runner({
    dbClient: client,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Infinity,
    singleTransaction: true,
    checkOrder: true,
    log,
    logger: { debug: () => undefined, info: log, warn: log, error: log },
  });
  // PostgREST caches the schema: ask it to reload (harmless when none listens).
  await client.query(`NOTIFY pgrst, 'reload schema'`);
  return applied.map((m) => m.name);
}

// `node src/store/migrate.ts` (npm run migrate): migrate DATABASE_URL.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    process.stderr.write('agentrun migrate: DATABASE_URL is not set\n');
    process.exit(1);
  }
  migrate({ databaseUrl: url, log: (l) => process.stdout.write(`${l}\n`) }).then(
    (names) => process.stdout.write(`applied ${names.length} migration(s)${names.length ? `: ${names.join(', ')}` : ''}\n`),
    (err: unknown) => {
      process.stderr.write(`agentrun migrate: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
