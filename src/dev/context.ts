/**
 * What every part of the stack manager needs to know, read from the environment
 * once by the entry point (`loadStackContext(process.env)` in stack.ts) and passed
 * down: where tools and data live, the loopback ports, the bucket name. Nothing here
 * reads the environment at import time.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StackError } from './proc.ts';

/** The repository: derived from this file's location, not from the environment. */
export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** Every service listens on loopback only. */
export const HOST = '127.0.0.1';
/** The local PostgreSQL database agentrun uses. */
export const DATABASE = 'agentrun';

/** Each port, the variable that moves it, and its default (README lists the variables). */
const PORT_VARS = {
  temporal: ['AGENTRUN_TEMPORAL_PORT', 17233],
  temporalUi: ['AGENTRUN_TEMPORAL_UI_PORT', 18233],
  temporalHttp: ['AGENTRUN_TEMPORAL_HTTP_PORT', 17243],
  temporalMetrics: ['AGENTRUN_TEMPORAL_METRICS_PORT', 17244],
  redis: ['AGENTRUN_REDIS_PORT', 16379],
  postgres: ['AGENTRUN_PG_PORT', 15432],
  postgrest: ['AGENTRUN_POSTGREST_PORT', 15434],
  postgrestAdmin: ['AGENTRUN_POSTGREST_ADMIN_PORT', 15435],
  gateway: ['AGENTRUN_GATEWAY_PORT', 15480],
  minio: ['AGENTRUN_MINIO_PORT', 19000],
  minioConsole: ['AGENTRUN_MINIO_CONSOLE_PORT', 19001],
  etcd: ['AGENTRUN_ETCD_PORT', 12379],
  etcdPeer: ['AGENTRUN_ETCD_PEER_PORT', 12380],
  apiserver: ['AGENTRUN_KUBE_APISERVER_PORT', 16443],
  controllerManager: ['AGENTRUN_KUBE_CM_PORT', 16444],
  scheduler: ['AGENTRUN_KUBE_SCHEDULER_PORT', 16445],
  kwok: ['AGENTRUN_KWOK_PORT', 16446],
  /** The API `./dev demo` leaves running (API_PORT's default, where the CLI looks). */
  api: ['AGENTRUN_API_PORT', 18080],
} as const satisfies Record<string, readonly [string, number]>;

export type StackPorts = { readonly [K in keyof typeof PORT_VARS]: number };

/** Where the stack keeps tools (cached installs) and data (service state); both git-ignored. */
export interface StackPaths {
  /** Cached installs: AGENTRUN_TOOLS_DIR, or .tools/. */
  readonly tools: string;
  /** Service data: AGENTRUN_DATA_DIR, or .data/. */
  readonly data: string;
  /** Pid files, generated secrets and configs, the env file: <data>/stack. */
  readonly state: string;
  /** Service logs: <data>/logs. */
  readonly logs: string;
  /** The env file that points processes at the stack: <data>/stack/env. */
  readonly envFile: string;
}

export interface StackContext {
  readonly paths: StackPaths;
  readonly ports: StackPorts;
  /** The workspace bucket: S3_BUCKET, or agentrun-workspaces. */
  readonly bucket: string;
  /** The environment this context was read from; child processes inherit it. */
  readonly env: NodeJS.ProcessEnv;
}

export function stackPaths(env: NodeJS.ProcessEnv): StackPaths {
  const data = resolve(env.AGENTRUN_DATA_DIR ?? join(ROOT, '.data'));
  const state = join(data, 'stack');
  return {
    tools: resolve(env.AGENTRUN_TOOLS_DIR ?? join(ROOT, '.tools')),
    data, state, logs: join(data, 'logs'), envFile: join(state, 'env'),
  };
}

/** The ports from the environment; a value that is not a port number is a StackError. */
export function stackPorts(env: NodeJS.ProcessEnv): StackPorts {
  const entries = Object.entries(PORT_VARS).map(([key, [name, def]]) => [key, envPort(env, name, def)]);
  return Object.fromEntries(entries) as StackPorts;
}

export function loadStackContext(env: NodeJS.ProcessEnv): StackContext {
  return { paths: stackPaths(env), ports: stackPorts(env), bucket: env.S3_BUCKET || 'agentrun-workspaces', env };
}

function envPort(env: NodeJS.ProcessEnv, name: string, def: number): number {
  const raw = env[name];
  const n = raw === undefined || raw === '' ? def : Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new StackError(`${name}=${raw} is not a port number`);
  return n;
}
