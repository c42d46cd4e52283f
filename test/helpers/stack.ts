/**
 * Test helpers: the environment of the running local stack (./dev up), and
 * real worker / API processes started on a task queue of the test's own.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import type { S3Client } from '@aws-sdk/client-s3';
import { mintToken, rememberToken } from './auth.ts';
import { STACK_QUEUE_KEY_STEM } from '../../src/dev/services/redis.ts';
import { createS3 } from '../../src/infra/s3.ts';
import { createRedis } from '../../src/infra/redis.ts';
import type { Redis } from 'ioredis';
import { loadConfig } from '../../src/shared/config.ts';
import { queueKeys } from '../../src/shared/names.ts';
import { PgStore } from '../../src/store/pg.ts';
import type { Config } from '../../src/shared/config.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * This test process's own queue facade keys (`QUEUE_KEY_PREFIX` `jobs-test-<hex>:`), so no
 * test leaves an entry in the local stack's `jobs:*` lists; `Clients.close()` deletes them.
 * They stay inside the stack's Redis ACL user's `jobs*` keys (STACK_QUEUE_KEY_STEM).
 */
export const TEST_QUEUE_PREFIX = `${STACK_QUEUE_KEY_STEM}-test-${randomBytes(4).toString('hex')}:`;

/**
 * The stack's env: from the process (./dev test sets it) or from .data/stack/env (after ./dev up),
 * with this process's QUEUE_KEY_PREFIX unless one is set, NEW_USER_CREDITS=0 and BREAKER_FAILURES=1000.
 */
export function stackEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  const file = join(ROOT, '.data', 'stack', 'env');
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  for (const k of Object.keys(env)) if (process.env[k]) env[k] = process.env[k];
  env.QUEUE_KEY_PREFIX = process.env.QUEUE_KEY_PREFIX || TEST_QUEUE_PREFIX;
  // Test users get exactly the credits a test grants them (newUser); a test of NEW_USER_CREDITS sets it itself.
  env.NEW_USER_CREDITS = '0';
  // Tests fail steps on purpose, many as the same user: no breaker opens unless a test of the breaker sets it.
  env.BREAKER_FAILURES = '1000';
  if (!env.TEMPORAL_ADDRESS) throw new Error('the local stack is not configured: run ./dev up (or ./dev test)');
  return env;
}

/** What a test that needs the test Kubernetes cluster says, in one line, when it is not up. */
export const KUBE_ABSENT = 'the test Kubernetes cluster is not up (no kubeconfig in the stack env): run ./dev up --kube (./dev test starts it)';

/** The stack's env with the test cluster's kubeconfigs; throws KUBE_ABSENT without them. */
export function kubeStackEnv(): Record<string, string> & { K8S_KUBECONFIG: string; AGENTRUN_KUBE_ADMIN_KUBECONFIG: string } {
  const env = stackEnv();
  if (!env.K8S_KUBECONFIG || !env.AGENTRUN_KUBE_ADMIN_KUBECONFIG || !existsSync(env.AGENTRUN_KUBE_ADMIN_KUBECONFIG)) throw new Error(KUBE_ABSENT);
  return env as Record<string, string> & { K8S_KUBECONFIG: string; AGENTRUN_KUBE_ADMIN_KUBECONFIG: string };
}

export function uniqueQueue(prefix = 'test'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ ...stackEnv(), ...overrides });
}

/** Polls until `check` returns a truthy value; fails with `what` after the deadline. */
export async function waitUntil<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The workflow bundle `./dev test` builds once for the whole run (AGENTRUN_TEST_WORKFLOW_BUNDLE):
 * every worker a test starts loads it (WORKFLOW_BUNDLE_PATH) instead of running webpack at start,
 * unless the test names its own. Unset (a test file run by hand), each worker bundles as usual.
 */
export const TEST_WORKFLOW_BUNDLE = process.env.AGENTRUN_TEST_WORKFLOW_BUNDLE || undefined;

/**
 * Every process a test started that still runs: SIGKILLed when the test file's process exits
 * (test/run.ts forces that exit once its tests are done), so one that a failed start or
 * test left behind neither outlives the file nor keeps it from ending.
 */
const live = new Set<ChildProcess>();
process.once('exit', () => { for (const c of live) c.kill('SIGKILL'); });

/**
 * What every process a test starts inherits: PATH, HOME and ./dev's compile cache (README,
 * "Tests": a process skips most of its start-up compile); the rest comes from the test.
 */
export function childEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp',
    ...(process.env.NODE_COMPILE_CACHE ? { NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE } : {}),
  };
}

export function startProcess(script: string, env: Record<string, string>): Proc {
  const bundle = script === 'src/worker/main.ts' && TEST_WORKFLOW_BUNDLE ? { WORKFLOW_BUNDLE_PATH: TEST_WORKFLOW_BUNDLE } : {};
  const child = spawn(process.execPath, [join(ROOT, script)], {
    env: { ...childEnv(), LOG_LEVEL: 'info', ...bundle, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  live.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { live.delete(child); resolve({ code, signal }); });
  });
  return { child, output: () => out, exited };
}

export async function startWorker(env: Record<string, string>): Promise<Proc> {
  const p = startProcess('src/worker/main.ts', env);
  await waitUntil('worker started', () => {
    if (p.child.exitCode !== null) throw new Error(`worker exited: ${p.output()}`);
    return p.output().includes('"worker started"');
  }, 120_000).catch((err: unknown) => { p.child.kill('SIGKILL'); throw err; });
  return p;
}

/**
 * An API process verifying JWTs with the stack's secret (AUTH_JWT_SECRET; pass AUTH_MODE=none
 * and AUTH_JWT_SECRET='' to run without). `token` is a JWT for DEFAULT_USER_ID (or `local`);
 * the helpers (createRun, collect, apiFetch) send it.
 */
export async function startApi(env: Record<string, string>): Promise<Proc & { url: string; token: string }> {
  const p = startProcess('src/api/main.ts', { API_PORT: '0', AUTH_JWT_SECRET: env.SUPABASE_JWT_SECRET ?? stackEnv().SUPABASE_JWT_SECRET!, ...env });
  const url = await waitUntil('api listening', () => {
    if (p.child.exitCode !== null) throw new Error(`api exited: ${p.output()}`);
    const m = /"url":"(http:\/\/[^"]+)"/.exec(p.output());
    return m?.[1];
  }, 60_000).catch((err: unknown) => { p.child.kill('SIGKILL'); throw err; });
  const token = await mintToken(env.DEFAULT_USER_ID ?? 'local', { secret: env.SUPABASE_JWT_SECRET });
  rememberToken(url, token);
  return { ...p, url, token };
}

/** Where an API process serves /metrics (its own listener, logged at start). */
export function metricsUrl(api: Proc): string {
  const url = /"metrics":"(http:\/\/[^"]+\/metrics)"/.exec(api.output())?.[1];
  if (!url) throw new Error(`the API did not log its metrics listener: ${api.output().slice(0, 2000)}`);
  return url;
}

/** How long stop() waits for a process to exit after its signal before it SIGKILLs it (and says so). */
const STOP_DEADLINE_MS = 90_000;

/**
 * Signals the process and waits until it exits. One still there after STOP_DEADLINE_MS (a
 * worker's drain that never ends) is SIGKILLed with a line on stderr, so a file's `after`
 * never hangs the suite; tests of the drain itself signal and await `exited` on their own.
 */
export async function stop(p: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(signal);
  const timer = setTimeout(() => {
    process.stderr.write(`test helper stop(): pid ${p.child.pid} still running ${STOP_DEADLINE_MS / 1000} s after ${signal}; SIGKILL. Its last output:\n${p.output().slice(-2000)}\n`);
    p.child.kill('SIGKILL');
  }, STOP_DEADLINE_MS);
  try {
    await p.exited;
  } finally {
    clearTimeout(timer);
  }
}

export interface Clients {
  temporal: Client;
  /** As the stack's admin user (AGENTRUN_REDIS_ADMIN_URL) when the env names one: tests read and write any key. */
  redis: Redis;
  s3: S3Client;
  store: PgStore;
  config: Config;
  close(): Promise<void>;
}

/** A fresh user id with `credits` granted, so tests never share a balance. */
export async function newUser(c: Clients, credits: number, prefix = 'user'): Promise<string> {
  const id = `${prefix}-${randomBytes(5).toString('hex')}`;
  if (credits > 0) await c.store.grant(id, credits, `test-grant:${id}`);
  return id;
}

export async function connectClients(): Promise<Clients> {
  const config = testConfig();
  const connection = await Connection.connect({ address: config.temporal.address });
  const temporal = new Client({ connection, namespace: config.temporal.namespace });
  const redis = createRedis(stackEnv().AGENTRUN_REDIS_ADMIN_URL || config.redis.url, { offlineQueue: true });
  await redis.connect();
  const s3 = createS3(config.s3);
  if (config.store.kind !== 'postgres') throw new Error('tests expect STORE=postgres in the stack env');
  const store = new PgStore({ databaseUrl: config.store.databaseUrl });
  return {
    temporal, redis, s3, store, config,
    async close() {
      await redis.del(...Object.values(queueKeys(TEST_QUEUE_PREFIX))).catch(() => undefined);
      await connection.close();
      await store.close();
      redis.disconnect();
      s3.destroy();
    },
  };
}
