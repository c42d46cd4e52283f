/**
 * The four stores of a local stack, each saved to and restored from a file of the backup
 * directory: Temporal's SQLite file (an online SQLite backup), the application database
 * (pg_dump's custom format), Redis (a BGSAVE snapshot) and the workspace bucket (every
 * version of every object through the S3 API: ./bucket.ts).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DATABASE, HOST, type StackContext } from '../context.ts';
import { run, StackError } from '../proc.ts';
import { secrets } from '../secrets.ts';
import { adminUrl, pgBinDir } from '../services/postgres.ts';
import { restoreRedisRdb, saveRedisRdb } from '../services/redis.ts';
import { temporalDbFile } from '../services/temporal.ts';

export const FILES = { temporal: 'temporal.db', postgres: 'postgres.dump', redis: 'redis.rdb', s3: 's3' } as const;

/** Temporal's database, copied online (SQLite's backup API: a consistent snapshot while the server writes). */
export async function saveTemporal(ctx: StackContext, dir: string): Promise<void> {
  const { backup, DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(temporalDbFile(ctx));
  try {
    // Every page in one step: a step restarts when the server writes meanwhile, so small steps might never end.
    await backup(db, join(dir, FILES.temporal), { rate: 2 ** 30 });
  } finally {
    db.close();
  }
  for (const tail of ['-wal', '-shm']) rmSync(join(dir, FILES.temporal + tail), { force: true });
}

/** Puts the saved file in place of Temporal's database; Temporal must be stopped. */
export async function restoreTemporal(ctx: StackContext, dir: string): Promise<void> {
  const file = temporalDbFile(ctx);
  for (const tail of ['', '-wal', '-shm']) rmSync(file + tail, { force: true });
  mkdirSync(join(file, '..'), { recursive: true });
  await copyFile(join(dir, FILES.temporal), file);
}

const pgEnv = (ctx: StackContext) => ({ ...ctx.env, PGPASSWORD: secrets(ctx).pgPassword });
const pgArgs = (ctx: StackContext) => ['-h', HOST, '-p', String(ctx.ports.postgres), '-U', 'postgres'];
function pgTool(name: string): string {
  const bin = pgBinDir();
  if (!bin || !existsSync(join(bin, name))) throw new StackError(`${name} not found: run ./dev install (apt postgresql)`);
  return join(bin, name);
}

/** The application database in pg_dump's custom format (the password goes by environment, not argv). */
export function savePostgres(ctx: StackContext, dir: string): void {
  run(pgTool('pg_dump'), [...pgArgs(ctx), '-d', DATABASE, '-Fc', '-f', join(dir, FILES.postgres)], { quiet: true, env: pgEnv(ctx), what: 'pg_dump' });
}

/** Drops the application database (closing its connections) and restores the dump into a new one. */
export async function restorePostgres(ctx: StackContext, dir: string): Promise<void> {
  const pg = (await import('pg')).default;
  const admin = new pg.Client({ connectionString: adminUrl(ctx, 'postgres') });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await admin.end();
  }
  run(pgTool('pg_restore'), [...pgArgs(ctx), '-d', DATABASE, '--exit-on-error', '--no-owner', join(dir, FILES.postgres)], { quiet: true, env: pgEnv(ctx), what: 'pg_restore' });
}

export const saveRedis = (ctx: StackContext, dir: string) => saveRedisRdb(ctx, join(dir, FILES.redis));
export const restoreRedis = (ctx: StackContext, dir: string) => restoreRedisRdb(ctx, join(dir, FILES.redis));

export { moveStepResults, restoreS3, saveS3 } from './bucket.ts';
