/**
 * MinIO, the local S3 (built once with `go install` into .tools/bin), with its data
 * under <data>/minio, generated root credentials, and the workspace bucket created
 * (versioned, old versions expiring: src/infra/bucket.ts).
 */
import { existsSync, mkdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { prepareWorkspaceBucket } from '../../infra/bucket.ts';
import { createS3 } from '../../infra/s3.ts';
import { HOST, type StackContext } from '../context.ts';
import { log, readPid, runAsync, StackError, startDetached, stopPid, waitFor, which } from '../proc.ts';
import { secrets } from '../secrets.ts';
import { logFile, pidFile, type Service } from './service.ts';

export const MINIO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c'; // go install github.com/minio/minio@…

const minioBin = (ctx: StackContext) => join(ctx.paths.tools, 'bin', 'minio');

async function install(ctx: StackContext): Promise<void> {
  const stamp = join(ctx.paths.tools, 'bin', '.minio-version');
  if (existsSync(minioBin(ctx)) && existsSync(stamp) && readFileSync(stamp, 'utf8') === MINIO_VERSION) return;
  const go = which('go');
  if (!go) throw new StackError('Go ≥ 1.24 is required to build MinIO: install it from https://go.dev/dl or apt-get install -y golang-1.24');
  log(`building MinIO ${MINIO_VERSION} with go install (first time only; takes a few minutes)`);
  mkdirSync(join(ctx.paths.tools, 'bin'), { recursive: true });
  // -trimpath and no symbol tables (-s -w): a smaller binary, linked sooner.
  await runAsync(go, ['install', '-trimpath', '-ldflags', '-s -w', `github.com/minio/minio@${MINIO_VERSION}`], {
    what: 'go install github.com/minio/minio',
    env: { ...ctx.env, GOBIN: join(ctx.paths.tools, 'bin'), GOPATH: join(ctx.paths.tools, 'go'), GOFLAGS: '-modcacherw', CGO_ENABLED: '0' },
  });
  writeFileSync(stamp, MINIO_VERSION);
}

async function healthy(ctx: StackContext): Promise<boolean> {
  const r = await fetch(`http://${HOST}:${ctx.ports.minio}/minio/health/live`).catch(() => undefined);
  return r?.ok === true;
}

/** An S3 client of the local MinIO as its root user (the caller destroys it). */
export function stackS3(ctx: StackContext): S3Client {
  const s = secrets(ctx);
  return createS3({
    endpoint: `http://${HOST}:${ctx.ports.minio}`, region: 'us-east-1', bucket: ctx.bucket, forcePathStyle: true,
    accessKeyId: s.minioUser, secretAccessKey: s.minioPassword,
  });
}

async function ensureBucket(ctx: StackContext): Promise<void> {
  const s3 = stackS3(ctx);
  try {
    await prepareWorkspaceBucket(s3, ctx.bucket);
  } finally {
    s3.destroy();
  }
}

/** MinIO refuses every write (XMinioStorageFull) once its disk is this full (minio cmd/globals.go diskFillFraction). */
const MINIO_FILL_LIMIT = 0.99;
/** Room kept above that for what a test run or a bench adds (rebuilt images, logs, runs' objects). */
const HEADROOM_BYTES = 2 * 1024 ** 3;

/**
 * Why the disk under `dir` is too full for MinIO to take a run's writes, or undefined. Sizes
 * as MinIO reads them: root-reserved blocks are not part of the total. Found the hard way: with
 * the disk filled by replaced images, every run of a CI run retried its S3 writes until its
 * test timed out.
 */
export function diskRoomProblem(dir: string, s: { bsize: number; blocks: number; bfree: number; bavail: number }): string | undefined {
  const total = (s.blocks - (s.bfree - s.bavail)) * s.bsize;
  const free = s.bavail * s.bsize;
  const needed = total * (1 - MINIO_FILL_LIMIT) + HEADROOM_BYTES;
  if (free >= needed) return undefined;
  const gb = (n: number) => `${(n / 1e9).toFixed(1)} GB`;
  return `the disk under ${dir} has ${gb(free)} free of ${gb(total)}: MinIO refuses every write once its disk is ${MINIO_FILL_LIMIT * 100}% full, ` +
    `and a run writes to it at every step; free ${gb(needed - free)} more (podman image prune removes superseded images) and start again`;
}

async function start(ctx: StackContext): Promise<void> {
  const pid = pidFile(ctx, 'minio');
  const logs = logFile(ctx, 'minio');
  const dir = join(ctx.paths.data, 'minio');
  mkdirSync(dir, { recursive: true });
  const full = diskRoomProblem(dir, statfsSync(dir));
  if (full) throw new StackError(full);
  if (!(readPid(pid) && (await healthy(ctx)))) {
    await stopPid(pid);
    const s = secrets(ctx);
    // The scanner at its slowest pace: at the default one it walked the bucket's versions
    // over and over, 16% of a core with the stack idle (131,000 files after a day of test
    // runs), a twelfth of a 2-core machine taken from every test and bench. It still
    // applies the bucket's lifecycle (old versions expire after days), every 30 minutes.
    startDetached(minioBin(ctx), ['server', dir, '--address', `${HOST}:${ctx.ports.minio}`, '--console-address', `${HOST}:${ctx.ports.minioConsole}`, '--quiet'], {
      logFile: logs, pidFile: pid,
      env: { ...ctx.env, MINIO_ROOT_USER: s.minioUser, MINIO_ROOT_PASSWORD: s.minioPassword, MINIO_UPDATE: 'off', MINIO_BROWSER_REDIRECT: 'off', MINIO_SCANNER_SPEED: 'slowest' },
    });
    await waitFor('MinIO', 60_000, () => healthy(ctx), `see ${logs}`);
  }
  await ensureBucket(ctx);
}

export const minio: Service = {
  name: 'minio',
  install,
  start,
  healthy,
  stop: (ctx) => stopPid(pidFile(ctx, 'minio')),
  where: (ctx) => `S3 http://${HOST}:${ctx.ports.minio} bucket ${ctx.bucket}, console http://${HOST}:${ctx.ports.minioConsole}`,
};
