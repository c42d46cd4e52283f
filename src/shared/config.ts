/**
 * Configuration: one zod schema per variable, parsed once at an entry point by
 * `loadConfig(env)` and passed down as typed slices. Never read at import time.
 * Secrets have no defaults; the stack manager generates local ones.
 */
import { z } from 'zod';

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

interface VarSpec<T extends z.ZodType> {
  schema: T;
  description: string;
  /** Shown in the README table; undefined means required. */
  default?: string;
  secret?: boolean;
}
function v<T extends z.ZodType>(schema: T, description: string, def?: string, secret = false): VarSpec<T> {
  return { schema, description, default: def, secret };
}

/** Every variable the processes read, with its description and default. */
export const CONFIG_VARS = {
  TEMPORAL_ADDRESS: v(z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port'), 'Temporal frontend gRPC address', '127.0.0.1:17233'),
  TEMPORAL_NAMESPACE: v(z.string().min(1), 'Temporal namespace', 'default'),
  TEMPORAL_TASK_QUEUE: v(z.string().min(1), 'Task queue the worker polls and the API starts runs on', 'agentrun'),
  REDIS_URL: v(z.url({ protocol: /^rediss?$/ }), 'Redis URL (`rediss://` for TLS, `redis://user:pass@…` for ACL users)', 'redis://127.0.0.1:16379'),
  EVENT_STREAM_MAXLEN: v(int(100, 10_000_000), 'Approximate cap on entries kept in each run\'s Redis event stream', '10000'),
  EVENT_STREAM_TTL_S: v(int(60, 31_536_000), 'Seconds a finished run\'s event stream is kept in Redis', '604800'),
  S3_ENDPOINT: v(z.url({ protocol: /^https?$/ }).optional(), 'S3 endpoint URL; unset means AWS', 'http://127.0.0.1:19000'),
  S3_REGION: v(z.string().min(1), 'S3 region', 'us-east-1'),
  S3_BUCKET: v(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid bucket name'), 'Bucket holding run workspaces', 'agentrun-workspaces'),
  S3_FORCE_PATH_STYLE: v(bool, 'Use path-style addressing (needed by MinIO and most S3-compatible servers)', 'true'),
  S3_ACCESS_KEY_ID: v(z.string().min(3), 'S3 access key id (the stack manager generates a local one)', undefined, true),
  S3_SECRET_ACCESS_KEY: v(z.string().min(8), 'S3 secret access key (the stack manager generates a local one)', undefined, true),
  STORE: v(z.enum(['postgres', 'supabase']), 'Records and credits: `postgres` (DATABASE_URL, via pg) or `supabase` (SUPABASE_URL + service-role key, via supabase-js)', 'postgres'),
  DATABASE_URL: v(z.url({ protocol: /^postgres(ql)?$/ }).optional(), 'Postgres URL for STORE=postgres (local stack, or Supabase\'s direct connection string)', undefined, true),
  SUPABASE_URL: v(z.url({ protocol: /^https?$/ }).optional(), 'Supabase project URL for STORE=supabase (REST under /rest/v1)', undefined),
  SUPABASE_SERVICE_ROLE_KEY: v(z.string().min(20).optional(), 'Supabase service-role key for STORE=supabase (bypasses RLS; never give it to clients)', undefined, true),
  RUN_CREDIT_RESERVATION: v(int(1, 1_000_000_000), 'Credits reserved when a run starts; unused credits return at settle', '100'),
  LLM_PROVIDER: v(z.enum(['offline', 'anthropic']).optional(), 'Planner and supervisor: `anthropic`, or `offline` (deterministic, no key; see "Prompt syntax"). Unset: `anthropic` when ANTHROPIC_API_KEY is set, else `offline`', undefined),
  ANTHROPIC_API_KEY: v(z.string().min(8).optional(), 'Anthropic API key (selects the anthropic provider when LLM_PROVIDER is unset)', undefined, true),
  ANTHROPIC_BASE_URL: v(z.url({ protocol: /^https?$/ }).optional(), 'Anthropic API base URL (a gateway or proxy); unset means api.anthropic.com', undefined),
  ANTHROPIC_MODEL: v(z.string().min(1), 'Claude model for plans and supervision', 'claude-sonnet-4-5'),
  ANTHROPIC_MAX_TOKENS: v(int(256, 64_000), 'max_tokens of each Anthropic call', '4096'),
  LLM_TIMEOUT_MS: v(int(1000, 600_000), 'Time limit of one LLM call (Temporal retries after it)', '120000'),
  MAX_ITERATIONS: v(int(1, 100_000), 'Step executions (retries included) a run may make', '10'),
  ACTIVATION_TIMEOUT_S: v(int(1, 604_800), 'Working time a run may take, excluding waits for humans', '600'),
  APPROVAL_TIMEOUT_S: v(int(1, 2_592_000), 'How long a run waits for `approve` before it is cancelled', '86400'),
  HUMAN_REPLY_TIMEOUT_S: v(int(1, 2_592_000), 'How long a run waits for a `message` after the supervisor asks a human', '3600'),
  APPROVAL_TOOLS: v(z.string().regex(/^(|[a-z_]+(,[a-z_]+)*)$/, 'must be a comma-separated list of tool names'), 'Tools whose presence in a plan requires approval (e.g. `shell`)', ''),
  SHELL_TIMEOUT_MS: v(int(100, 3_600_000), 'Default wall-clock limit of a shell step', '60000'),
  TOOL_OUTPUT_MAX_BYTES: v(int(1024, 16_777_216), 'Cap on captured stdout/stderr per shell step', '65536'),
  API_HOST: v(z.string().min(1), 'Address the API listens on', '127.0.0.1'),
  API_PORT: v(int(0, 65535), 'Port the API listens on (0 picks a free one)', '18080'),
  API_BODY_MAX_BYTES: v(int(1024, 10_485_760), 'Largest accepted JSON body', '262144'),
  SSE_HEARTBEAT_MS: v(int(100, 300_000), 'Interval of SSE comment heartbeats', '15000'),
  DEFAULT_USER_ID: v(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), 'User id given to runs until authentication lands', 'local'),
  WORKER_SHUTDOWN_GRACE_MS: v(int(0, 3_600_000), 'How long a stopping worker lets in-flight activities finish', '30000'),
  WORKER_HEARTBEAT_TTL_S: v(int(2, 3600), 'TTL of the `worker:heartbeat` key (refreshed at a third of it)', '30'),
  LOG_LEVEL: v(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'pino log level', 'info'),
} as const;

type Vars = typeof CONFIG_VARS;
export type RawConfig = { [K in keyof Vars]: z.output<Vars[K]['schema']> };

/** Thrown when the environment does not describe a runnable process; the message is one line. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function parseVars(env: NodeJS.ProcessEnv): RawConfig {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(CONFIG_VARS) as [string, VarSpec<z.ZodType>][]) {
    const raw = env[name] === '' ? undefined : (env[name] ?? spec.default);
    if (raw === undefined) {
      if (spec.schema.safeParse(undefined).success) continue;
      problems.push(`${name} is required (${spec.description})`);
      continue;
    }
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) out[name] = parsed.data;
    else problems.push(`${name}=${spec.secret ? '<redacted>' : JSON.stringify(raw)} ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return out as RawConfig;
}

export interface Config {
  temporal: { address: string; namespace: string; taskQueue: string };
  redis: { url: string; streamMaxLen: number; streamTtlS: number };
  s3: {
    endpoint?: string; region: string; bucket: string; forcePathStyle: boolean;
    accessKeyId: string; secretAccessKey: string;
  };
  store:
    | { kind: 'postgres'; databaseUrl: string }
    | { kind: 'supabase'; url: string; serviceRoleKey: string };
  credits: { runReservation: number };
  llm: {
    provider: 'offline' | 'anthropic';
    anthropic?: { apiKey: string; baseURL?: string; model: string; maxTokens: number; timeoutMs: number };
  };
  /** Per-run limits, copied into each run's input when it starts (so a config change never alters a running run). */
  runs: { maxIterations: number; activationTimeoutMs: number; approvalTimeoutMs: number; humanReplyTimeoutMs: number; approvalTools: string[] };
  tools: { shellTimeoutMs: number; outputMaxBytes: number };
  api: { host: string; port: number; bodyMaxBytes: number; sseHeartbeatMs: number; defaultUserId: string };
  worker: { shutdownGraceMs: number; heartbeatTtlS: number };
  logLevel: RawConfig['LOG_LEVEL'];
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const c = parseVars(env);
  const provider = c.LLM_PROVIDER ?? (c.ANTHROPIC_API_KEY ? 'anthropic' : 'offline');
  if (provider === 'anthropic' && !c.ANTHROPIC_API_KEY) throw new ConfigError('invalid configuration: ANTHROPIC_API_KEY is required when LLM_PROVIDER=anthropic');
  let store: Config['store'];
  if (c.STORE === 'postgres') {
    if (!c.DATABASE_URL) throw new ConfigError('invalid configuration: DATABASE_URL is required when STORE=postgres');
    store = { kind: 'postgres', databaseUrl: c.DATABASE_URL };
  } else {
    if (!c.SUPABASE_URL || !c.SUPABASE_SERVICE_ROLE_KEY) {
      throw new ConfigError('invalid configuration: SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are required when STORE=supabase');
    }
    store = { kind: 'supabase', url: c.SUPABASE_URL, serviceRoleKey: c.SUPABASE_SERVICE_ROLE_KEY };
  }
  return {
    store,
    credits: { runReservation: c.RUN_CREDIT_RESERVATION },
    temporal: { address: c.TEMPORAL_ADDRESS, namespace: c.TEMPORAL_NAMESPACE, taskQueue: c.TEMPORAL_TASK_QUEUE },
    redis: { url: c.REDIS_URL, streamMaxLen: c.EVENT_STREAM_MAXLEN, streamTtlS: c.EVENT_STREAM_TTL_S },
    s3: {
      endpoint: c.S3_ENDPOINT, region: c.S3_REGION, bucket: c.S3_BUCKET, forcePathStyle: c.S3_FORCE_PATH_STYLE,
      accessKeyId: c.S3_ACCESS_KEY_ID, secretAccessKey: c.S3_SECRET_ACCESS_KEY,
    },
    llm: {
      provider,
      anthropic: c.ANTHROPIC_API_KEY ? {
        apiKey: c.ANTHROPIC_API_KEY, baseURL: c.ANTHROPIC_BASE_URL, model: c.ANTHROPIC_MODEL, maxTokens: c.ANTHROPIC_MAX_TOKENS, timeoutMs: c.LLM_TIMEOUT_MS,
      } : undefined,
    },
    runs: {
      maxIterations: c.MAX_ITERATIONS,
      activationTimeoutMs: c.ACTIVATION_TIMEOUT_S * 1000,
      approvalTimeoutMs: c.APPROVAL_TIMEOUT_S * 1000,
      humanReplyTimeoutMs: c.HUMAN_REPLY_TIMEOUT_S * 1000,
      approvalTools: c.APPROVAL_TOOLS ? c.APPROVAL_TOOLS.split(',') : [],
    },
    tools: { shellTimeoutMs: c.SHELL_TIMEOUT_MS, outputMaxBytes: c.TOOL_OUTPUT_MAX_BYTES },
    api: {
      host: c.API_HOST, port: c.API_PORT, bodyMaxBytes: c.API_BODY_MAX_BYTES,
      sseHeartbeatMs: c.SSE_HEARTBEAT_MS, defaultUserId: c.DEFAULT_USER_ID,
    },
    worker: { shutdownGraceMs: c.WORKER_SHUTDOWN_GRACE_MS, heartbeatTtlS: c.WORKER_HEARTBEAT_TTL_S },
    logLevel: c.LOG_LEVEL,
  };
}

/** Markdown table of every variable, for README.md (`./dev config-table`). */
export function configTable(): string {
  const rows = Object.entries(CONFIG_VARS).map(
    ([name, spec]) => {
      const def = spec.default !== undefined ? `\`${spec.default}\`` : spec.schema.safeParse(undefined).success ? '—' : '*required*';
      return `| \`${name}\` | ${def} | ${spec.description} |`;
    },
  );
  return ['| variable | default | what |', '|---|---|---|', ...rows].join('\n');
}
