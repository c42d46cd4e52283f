/**
 * The four stores of a local stack, each saved to and restored from a file of the backup
 * directory: Temporal's SQLite file (an online SQLite backup), the application database
 * (pg_dump's custom format), Redis (a BGSAVE snapshot) and the workspace bucket (every
 * object through the S3 API, with its content type and metadata).
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { DATABASE, HOST, type StackContext } from '../context.ts';
import { run, StackError } from '../proc.ts';
import { secrets } from '../secrets.ts';
import { stackS3 } from '../services/minio.ts';
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

/** One saved object: its key, its file under s3/, and what a GET returns besides the bytes. */
interface SavedObject { key: string; file: string; size: number; contentType?: string; metadata?: Record<string, string> }

async function* listKeys(s3: S3Client, bucket: string): AsyncGenerator<string> {
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key) yield o.Key;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** Every object of the bucket to s3/NNNNNN with an index (keys may hold any character, so files are numbered). */
export async function saveS3(ctx: StackContext, dir: string): Promise<number> {
  const s3 = stackS3(ctx);
  const objects: SavedObject[] = [];
  mkdirSync(join(dir, FILES.s3), { recursive: true });
  try {
    for await (const key of listKeys(s3, ctx.bucket)) {
      const file = String(objects.length).padStart(6, '0');
      const got = await s3.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: key }));
      await pipeline(got.Body as Readable, createWriteStream(join(dir, FILES.s3, file)));
      objects.push({ key, file, size: statSync(join(dir, FILES.s3, file)).size, contentType: got.ContentType, metadata: got.Metadata });
    }
  } finally {
    s3.destroy();
  }
  writeFileSync(join(dir, FILES.s3, 'index.json'), JSON.stringify(objects));
  return objects.length;
}

/** Empties the bucket, then puts every saved object back. */
export async function restoreS3(ctx: StackContext, dir: string): Promise<number> {
  const objects = JSON.parse(readFileSync(join(dir, FILES.s3, 'index.json'), 'utf8')) as SavedObject[];
  const s3 = stackS3(ctx);
  try {
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length) await s3.send(new DeleteObjectsCommand({ Bucket: ctx.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
      batch = [];
    };
    for await (const key of listKeys(s3, ctx.bucket)) {
      batch.push(key);
      if (batch.length === 1000) await flush();
    }
    await flush();
    for (const o of objects) {
      await s3.send(new PutObjectCommand({
        Bucket: ctx.bucket, Key: o.key, Body: readFileSync(join(dir, FILES.s3, o.file)), ContentType: o.contentType, Metadata: o.metadata,
      }));
    }
  } finally {
    s3.destroy();
  }
  return objects.length;
}
