/**
 * `./dev backup DIR` and `./dev restore DIR`: the local stack's data, saved while it runs
 * and put back onto a stack (a fresh one, or this one with --replace).
 *
 * Order is the point. Temporal is saved first, so every other store is at least as new as
 * it: after a restore Temporal replays from its moment, and the calls it makes again (a
 * charge, a record transition, an event append, a file write) find their effect already
 * there under the same idempotency key, or make it once. The reverse — Redis or Postgres
 * older than Temporal — would lose what Temporal counts as done (an event published, a
 * charge made). README "Backup and restore" says the same for production.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { LATEST_MIGRATION } from '../../store/schema.ts';
import { DATABASE, type StackContext } from '../context.ts';
import { stopDemo } from '../demo.ts';
import { StackError } from '../proc.ts';
import { adminUrl } from '../services/postgres.ts';
import { postgrest } from '../services/postgrest.ts';
import { redis } from '../services/redis.ts';
import { temporal } from '../services/temporal.ts';
import { FILES, moveStepResults, restorePostgres, restoreRedis, restoreS3, restoreTemporal, savePostgres, saveRedis, saveS3, saveTemporal } from './parts.ts';

/** /2 saves every version of the bucket's objects; /1 (the latest only) is still restored. */
const FORMAT = 'agentrun-backup/2';
const RESTORES = new Set<string>([FORMAT, 'agentrun-backup/1']);

/** DIR/manifest.json: what was saved, when, and the database's migration (checked at restore). */
export interface BackupManifest {
  format: string;
  createdAt: string;
  /** The newest migration applied to the saved database. */
  migration: string;
  bucket: string;
  /** Each part in the order it was saved, with when it was taken. */
  parts: { name: keyof typeof FILES; file: string; savedAt: string }[];
  counts: { runs: number; ledgerEntries: number; objects: number };
}

async function withDb<T>(ctx: StackContext, fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: adminUrl(ctx, DATABASE) });
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

const count = async (db: pg.Client, table: string) => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);

/** Saves the running stack into `dir` (new or empty), Temporal first. */
export async function backup(ctx: StackContext, dirArg: string, say: (l: string) => void): Promise<BackupManifest> {
  const dir = resolve(dirArg);
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new StackError(`${dir} is not empty: a backup goes into a new or empty directory`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const parts: BackupManifest['parts'] = [];
  const step = async (name: keyof typeof FILES, fn: () => unknown) => {
    const t = Date.now();
    const savedAt = new Date().toISOString();
    await fn();
    parts.push({ name, file: FILES[name], savedAt });
    say(`  ${name.padEnd(9)} saved  ${FILES[name]} (${Date.now() - t} ms)`);
  };
  await step('temporal', () => saveTemporal(ctx, dir));
  const migration = await withDb(ctx, async (db) => (await db.query<{ name: string }>('SELECT max(name) AS name FROM pgmigrations')).rows[0]!.name);
  await step('postgres', () => savePostgres(ctx, dir));
  await step('redis', () => saveRedis(ctx, dir));
  let objects = 0;
  await step('s3', async () => { objects = await saveS3(ctx, dir); });
  const [runs, ledgerEntries] = await withDb(ctx, (db) => Promise.all([count(db, 'agent_runs'), count(db, 'credit_ledger')]));
  const manifest: BackupManifest = { format: FORMAT, createdAt: parts[0]!.savedAt, migration, bucket: ctx.bucket, parts, counts: { runs, ledgerEntries, objects } };
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  say(`  backup    ${dir}: database at ${migration}, ${objects} workspace object version(s)`);
  return manifest;
}

/** The manifest of `dir`, checked: its format, its files, and a migration this code knows. */
export function readManifest(dir: string): BackupManifest {
  const file = join(dir, 'manifest.json');
  if (!existsSync(file)) throw new StackError(`${dir} holds no backup (no manifest.json)`);
  const m = JSON.parse(readFileSync(file, 'utf8')) as BackupManifest;
  if (!RESTORES.has(m.format)) throw new StackError(`${file}: format ${m.format}, this code restores ${[...RESTORES].join(' and ')}`);
  for (const p of m.parts) {
    if (!existsSync(join(dir, p.file))) throw new StackError(`${dir}: ${p.file} is missing (the ${p.name} part)`);
  }
  if (!statSync(join(dir, FILES.s3, 'index.json'), { throwIfNoEntry: false })) throw new StackError(`${dir}: s3/index.json is missing`);
  // Migration names start with their timestamp: a newer one is a database this code cannot run on.
  if (m.migration > LATEST_MIGRATION) {
    throw new StackError(`the backup's database is at migration ${m.migration}, newer than this code's ${LATEST_MIGRATION}: restore it with the agentrun version that wrote it`);
  }
  return m;
}

export interface RestoreOptions {
  /** Replace a stack that already holds runs (else such a stack is refused). */
  replace: boolean;
  /** Brings the stack up (services started, no top-up): restore writes into running services. */
  startStack: () => Promise<void>;
}

/**
 * Restores `dir` onto the local stack. Workers and APIs must be stopped (the demo's are
 * stopped here): a worker polling the restored Temporal while its data is replaced would
 * run against half a stack.
 */
export async function restore(ctx: StackContext, dirArg: string, opts: RestoreOptions, say: (l: string) => void): Promise<BackupManifest> {
  const dir = resolve(dirArg);
  const m = readManifest(dir);
  for (const { part, stopped } of await stopDemo(ctx)) if (stopped) say(`  demo ${part.padEnd(4)} stopped`);
  await opts.startStack();
  const held = await withDb(ctx, (db) => count(db, 'agent_runs'));
  if (held > 0 && !opts.replace) {
    throw new StackError(`this stack holds ${held} run(s): a restore replaces all its data; pass --replace, or restore onto an empty stack (another AGENTRUN_DATA_DIR)`);
  }
  const t = Date.now();
  await temporal.stop(ctx);
  await restoreTemporal(ctx, dir);
  await temporal.start(ctx);
  say('  temporal  restored');
  await postgrest.stop(ctx);
  await restorePostgres(ctx, dir);
  await postgrest.start(ctx); // applies newer migrations and the authenticator role, as `up` does
  say(`  postgres  restored (saved at ${m.migration}, now ${LATEST_MIGRATION})`);
  await restoreRedis(ctx, dir);
  await redis.start(ctx);
  say('  redis     restored');
  const { objects, moved } = await restoreS3(ctx, dir);
  const rewritten = await withDb(ctx, (db) => moveStepResults(db, moved));
  say(`  s3        restored ${objects} object version(s) into ${ctx.bucket}; ${rewritten} step record(s) in the database name the new versions`);
  say(`  restore   ${dir} (${m.createdAt}) in ${Math.round((Date.now() - t) / 1000)} s: start the workers and the API`);
  return m;
}
