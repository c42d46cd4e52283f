/**
 * Configuration: one zod schema per variable, parsed once at an entry point by
 * `loadConfig(env)` and passed down as typed slices. Never read at import time.
 * Secrets have no defaults; the stack manager generates local ones.
 */
import { z } from 'zod';

/** User ids (JWT `sub`, API-key owners, DEFAULT_USER_ID) become S3 key segments: a strict alphabet, no dots or slashes. */
export const USER_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const QUANTITY_UNITS: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
/** A byte size as Kubernetes writes it (`512Mi`, `2Gi`) or plain bytes; at least 1 MiB. */
const quantity = z.string().regex(/^\d+(Ki|Mi|Gi|Ti)?$/, 'must be a size like 512Mi, 2Gi or a number of bytes')
  .transform((text) => Number(/^\d+/.exec(text)![0]) * QUANTITY_UNITS[text.replace(/^\d+/, '')]!)
  .refine((n) => n >= 1024 ** 2 && Number.isSafeInteger(n), 'must be at least 1Mi');

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
  EVENT_STREAM_MAXLEN: v(int(100, 10_000_000), 'Safety cap on entries in a run\'s Redis stream (approximate). The whole log is archived to S3 when the run ends; a client further behind than the cap gets a `gap` notice', '200000'),
  EVENT_STREAM_TTL_S: v(int(60, 31_536_000), 'Seconds a finished run\'s event stream is kept in Redis', '604800'),
  S3_ENDPOINT: v(z.url({ protocol: /^https?$/ }).optional(), 'S3 endpoint URL; unset means AWS', 'http://127.0.0.1:19000'),
  S3_REGION: v(z.string().min(1), 'S3 region', 'us-east-1'),
  S3_BUCKET: v(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid bucket name'), 'Bucket holding run workspaces', 'agentrun-workspaces'),
  S3_FORCE_PATH_STYLE: v(bool, 'Use path-style addressing (needed by MinIO and most S3-compatible servers)', 'true'),
  S3_ACCESS_KEY_ID: v(z.string().min(3), 'S3 access key id (the stack manager generates a local one)', undefined, true),
  S3_SECRET_ACCESS_KEY: v(z.string().min(8), 'S3 secret access key (the stack manager generates a local one)', undefined, true),
  WORKSPACE_FILE_MAX_BYTES: v(int(1, 5_497_558_138_880), 'Largest file the file tools write or read (bytes); larger ones fail the step (`FileTooLarge`)', '104857600'),
  WORKSPACE_RETENTION_DAYS: v(int(0, 36_500), 'Days after a run ends before its workspace files are deleted (0 keeps them forever); the worker schedules the sweep', '0'),
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
  SHELL_TIMEOUT_MS: v(int(100, 3_600_000), 'Default wall-clock limit of a shell or code step', '60000'),
  SHELL_TIMEOUT_MAX_MS: v(int(100, 3_600_000), 'Longest wall-clock limit a plan may give a shell or code step (`timeoutMs`); a longer one is cut to it. A step is paid for at its limit before it starts', '600000'),
  TOOL_OUTPUT_MAX_BYTES: v(int(1024, 16_777_216), 'Cap on captured stdout/stderr per shell step', '65536'),
  SANDBOX: v(z.enum(['local', 'kubernetes', 'unsafe-host']), 'Where shell and code steps run: `local` (bubblewrap: own user, pid, network and mount namespaces, no environment, limits), `kubernetes` Jobs, or `unsafe-host` (plain child processes of the worker that can read its secrets: only for machines without user namespaces, never the default)', 'local'),
  SANDBOX_BWRAP: v(z.string().min(1), 'bubblewrap binary for SANDBOX=local (a name on PATH or an absolute path)', 'bwrap'),
  SANDBOX_MEMORY: v(quantity, 'SANDBOX=local: memory of a step: its processes together (a memory cgroup, when the worker runs as root with cgroup v1 controllers) and each one\'s address space (RLIMIT_AS; Node.js needs about 1200Mi of it); `Ki`, `Mi`, `Gi` or bytes', '2Gi'),
  SANDBOX_PIDS: v(int(8, 100_000), 'SANDBOX=local: processes a step may have at once (RLIMIT_NPROC in its own user namespace, and a pids cgroup where available)', '256'),
  SANDBOX_OPEN_FILES: v(int(16, 1_048_576), 'SANDBOX=local: open files per process of a step (RLIMIT_NOFILE)', '1024'),
  SANDBOX_CPU_S: v(int(1, 86_400), 'SANDBOX=local: CPU seconds per process of a step (RLIMIT_CPU; SIGXCPU, then SIGKILL 5 s later)', '600'),
  SANDBOX_FILE_SIZE: v(quantity, 'SANDBOX=local: largest file a step may write (RLIMIT_FSIZE; beyond it the write fails with SIGXFSZ)', '1Gi'),
  SANDBOX_TMP_SIZE: v(quantity, 'SANDBOX=local: size of the private in-memory /tmp and of $HOME of a step (each)', '256Mi'),
  SANDBOX_DISK: v(quantity, 'SANDBOX=local: largest total size of a step\'s workspace copy while it runs (checked every 250 ms; the step is stopped beyond it)', '2Gi'),
  SANDBOX_MAX_FILES: v(int(10, 10_000_000), 'SANDBOX=local: most files and directories a step\'s workspace copy may hold while it runs', '100000'),
  K8S_KUBECONFIG: v(z.string().min(1).optional(), 'kubeconfig file for SANDBOX=kubernetes; unset means in-cluster service-account credentials', undefined),
  K8S_NAMESPACE: v(z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a DNS label'), 'Namespace the tool Jobs run in', 'agentrun-tools'),
  K8S_RUNNER_IMAGE: v(z.string().min(1), 'Image of the runner entrypoint (`node src/runner/main.ts`) the Jobs run', 'ghcr.io/agentrun/runner:latest'),
  K8S_CPU: v(z.string().regex(/^\d+(\.\d+)?m?$/, 'must be a CPU quantity like 500m or 1'), 'CPU request and limit of a tool Job', '500m'),
  K8S_MEMORY: v(z.string().regex(/^\d+(Ki|Mi|Gi)$/, 'must be a quantity like 512Mi'), 'Memory request and limit of a tool Job', '512Mi'),
  K8S_EPHEMERAL_STORAGE: v(z.string().regex(/^\d+(Ki|Mi|Gi)$/, 'must be a quantity like 1Gi'), 'Ephemeral storage (and scratch emptyDir size) of a tool Job', '1Gi'),
  K8S_DEADLINE_GRACE_S: v(int(1, 86_400), 'Seconds a tool Job may run beyond its step\'s time limit (pull, push, scheduling) before activeDeadlineSeconds stops it', '120'),
  K8S_TTL_AFTER_FINISHED_S: v(int(0, 604_800), 'Seconds a finished Job is kept before Kubernetes deletes it', '600'),
  K8S_S3_SECRET: v(z.string().regex(/^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/, 'must be a Secret name'), 'Secret in the tools namespace holding AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for the runner', 'agentrun-runner-s3'),
  K8S_RUNNER_S3_ENDPOINT: v(z.url({ protocol: /^https?$/ }).optional(), 'S3 endpoint as pods see it; unset means S3_ENDPOINT', undefined),
  K8S_POD_LABELS: v(z.string().regex(/^(|[\w./-]+=[\w.-]*(,[\w./-]+=[\w.-]*)*)$/, 'must be k=v,k=v'), 'Extra labels on tool pods (network-policy or cost selectors), `k=v,k=v`', ''),
  K8S_POD_ANNOTATIONS: v(z.string().regex(/^(|[\w./-]+=[^,]*(,[\w./-]+=[^,]*)*)$/, 'must be k=v,k=v'), 'Extra annotations on tool pods, `k=v,k=v`', ''),
  API_HOST: v(z.string().min(1), 'Address the API listens on', '127.0.0.1'),
  API_PORT: v(int(0, 65535), 'Port the API listens on (0 picks a free one)', '18080'),
  API_BODY_MAX_BYTES: v(int(1024, 10_485_760), 'Largest accepted JSON body', '262144'),
  SSE_HEARTBEAT_MS: v(int(100, 300_000), 'Interval of SSE comment heartbeats', '15000'),
  DEFAULT_USER_ID: v(z.string().regex(USER_ID_RE, 'must be 1-128 of A-Z a-z 0-9 _ -'), 'The user every request acts as when AUTH_MODE=none (the laptop demo)', 'local'),
  AUTH_MODE: v(z.enum(['jwt', 'none']).optional(), '`jwt`: every request carries a bearer JWT (or an API key); `none`: every request is DEFAULT_USER_ID. Unset: `jwt` when AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_API_KEYS is set, else `none` — allowed only with a loopback API_HOST', undefined),
  AUTH_JWT_SECRET: v(z.string().min(32, 'must be at least 32 characters').optional(), 'HS256 secret JWTs are signed with (Supabase: Project Settings → API → JWT secret; the local stack\'s is SUPABASE_JWT_SECRET)', undefined, true),
  AUTH_JWKS_URL: v(z.url({ protocol: /^https?$/ }).optional(), 'JWKS URL of the token issuer (asymmetric keys: RS*, PS*, ES*, EdDSA; e.g. `https://<project>.supabase.co/auth/v1/.well-known/jwks.json`); excludes AUTH_JWT_SECRET', undefined),
  AUTH_ISSUER: v(z.string().min(1).optional(), 'Required `iss` of JWTs (Supabase: `https://<project>.supabase.co/auth/v1`); unset: not checked', undefined),
  AUTH_AUDIENCE: v(z.string().regex(/^[^,\s]+(,[^,\s]+)*$/, 'must be a comma-separated list'), 'Accepted `aud` values of JWTs, comma-separated (Supabase: `authenticated`)', 'authenticated'),
  AUTH_CLOCK_SKEW_S: v(int(0, 300), 'Seconds of clock skew tolerated on `exp` / `nbf`', '5'),
  AUTH_OPERATORS: v(z.string().regex(/^[A-Za-z0-9_-]{1,128}(,[A-Za-z0-9_-]{1,128})*$/, 'must be a comma-separated list of user ids').optional(), 'User ids (JWT `sub` or API-key owners), comma-separated, allowed on the operator routes (`/v1/queue*`); with AUTH_MODE=jwt nobody else is. With AUTH_MODE=none DEFAULT_USER_ID is the operator', undefined),
  AUTH_API_KEYS: v(z.string().regex(/^[A-Za-z0-9_-]{1,128}:[0-9a-f]{64}(,[A-Za-z0-9_-]{1,128}:[0-9a-f]{64})*$/, 'must be userId:sha256hex,… (lowercase hex)').optional(), 'Static API keys of service callers, as `userId:sha256hex,…` (the SHA-256 of each `ak_…` key; the keys themselves are never stored); sent as `Authorization: Bearer ak_…` or `X-API-Key`', undefined, true),
  API_CORS_ORIGINS: v(z.string().regex(/^(|https?:\/\/[^,\s/]+(,https?:\/\/[^,\s/]+)*)$/, 'must be a comma-separated list of origins like https://app.example.com'), 'Browser origins allowed to call the API (CORS), comma-separated; empty: none', ''),
  API_PROMPT_MAX_CHARS: v(int(1, 1_000_000), 'Longest prompt accepted (characters)', '20000'),
  API_MAX_ACTIVE_RUNS: v(int(1, 100_000), 'Runs one user may have going at once (queued, planning, awaiting approval, running, paused); more is 429', '10'),
  API_RATE_LIMIT: v(int(1, 1_000_000), 'Requests one user may make per API_RATE_WINDOW_S, counted in Redis across API processes; more is 429 with Retry-After', '600'),
  API_RATE_WINDOW_S: v(int(1, 3600), 'Window of API_RATE_LIMIT (seconds)', '60'),
  API_REPAIR_INTERVAL_S: v(int(0, 86_400), 'How often the API looks for run records left `queued` without a workflow (an API stopped between admitting and starting them) and fails them, so they stop counting against API_MAX_ACTIVE_RUNS (seconds; also once at start; 0: never)', '60'),
  API_REPAIR_GRACE_S: v(int(1, 86_400), 'How long a run record may stay `queued` without a workflow before that repair fails it (seconds)', '300'),
  SSE_MAX_STREAMS_PER_USER: v(int(1, 100_000), 'Event streams (SSE) one user may hold open on one API process; more is 429', '20'),
  SSE_MAX_STREAMS: v(int(1, 1_000_000), 'Event streams (SSE) one API process holds open at most; more is 503 with Retry-After', '2000'),
  API_METRICS_HOST: v(z.string().min(1), 'Address the API\'s /metrics listens on, a listener of its own apart from the API (loopback by default)', '127.0.0.1'),
  API_METRICS_PORT: v(int(0, 65535), 'Port of the API\'s /metrics listener; 0 picks a free one (logged)', '0'),
  IDEMPOTENCY_TTL_S: v(int(60, 2_592_000), 'How long an `Idempotency-Key` of POST /v1/runs is remembered (seconds)', '86400'),
  WORKER_SHUTDOWN_GRACE_MS: v(int(0, 3_600_000), 'How long a stopping worker lets in-flight activities finish', '30000'),
  WORKER_HEARTBEAT_TTL_S: v(int(2, 3600), 'TTL of the `worker:heartbeat` key (refreshed at a third of it)', '30'),
  WORKER_MAX_CONCURRENT_ACTIVITIES: v(int(1, 10_000), 'Activities (tool steps, LLM calls, records) one worker runs at once; more wait in Temporal\'s task queue', '20'),
  QUEUE_KEY_PREFIX: v(z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 : _ . -'), 'Prefix of the queue facade\'s Redis lists (`jobs:` gives the seeds\' `jobs:pending`, `jobs:processing`, …); the worker and the API must agree', 'jobs:'),
  QUEUE_CONSUMER: v(bool, 'Run the legacy ingress consumer in this API process (starts runs a seed-era producer LPUSHes onto jobs:pending / jobs:high_priority)', 'true'),
  QUEUE_POLL_MS: v(int(10, 60_000), 'How often an idle legacy ingress consumer looks for new entries (ms)', '250'),
  QUEUE_MAX_ATTEMPTS: v(int(1, 100), 'Attempts a legacy job gets through transient outages (parked in jobs:retry with backoff) before it is dead-lettered', '5'),
  INGRESS_SIGNING_SECRET: v(z.string().min(32, 'must be at least 32 characters').optional(), 'HMAC-SHA256 key of legacy queue entries (`sig`, see "Redis is a transport, never an authority"); the consumer refuses to start without it, and the API signs the entries it enqueues with it (the stack manager generates a local one)', undefined, true),
  READYZ_TIMEOUT_MS: v(int(100, 60_000), 'Time limit of each dependency check of GET /readyz (ms)', '2000'),
  WORKER_METRICS_HOST: v(z.string().min(1), 'Address the worker\'s /metrics listens on (loopback by default)', '127.0.0.1'),
  WORKER_METRICS_PORT: v(int(0, 65535), 'Port of the worker\'s /metrics (its own and the Temporal SDK\'s series); 0 picks a free one (logged)', '0'),
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

/**
 * Names the seeds' deployments used (e.g. the Exoscale SOS settings), accepted as
 * aliases so such an environment works unchanged. The canonical name wins; both
 * set to different values is an error.
 */
export const CONFIG_ALIASES: Readonly<Record<string, keyof typeof CONFIG_VARS>> = {
  S3_WORKSPACE_BUCKET: 'S3_BUCKET',
  S3_ACCESS_KEY: 'S3_ACCESS_KEY_ID',
  S3_SECRET_KEY: 'S3_SECRET_ACCESS_KEY',
};

function withAliases(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const [alias, name] of Object.entries(CONFIG_ALIASES)) {
    const value = env[alias];
    if (value === undefined || value === '') continue;
    if (env[name] !== undefined && env[name] !== '' && env[name] !== value) {
      throw new ConfigError(`invalid configuration: ${alias} and ${name} are both set, to different values (${alias} is an alias of ${name}; set one)`);
    }
    out[name] = value;
  }
  return out;
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

export interface KubernetesSandboxConfig {
  kubeconfig?: string; namespace: string; image: string;
  cpu: string; memory: string; ephemeralStorage: string; ttlAfterFinishedS: number; deadlineGraceS: number;
  s3Secret: string; s3Endpoint?: string; s3Region: string; s3Bucket: string; s3ForcePathStyle: boolean;
  podLabels: Record<string, string>; podAnnotations: Record<string, string>;
}

/** SANDBOX=local: the bubblewrap binary and the limits every step runs under. */
export interface LocalSandboxConfig {
  bwrap: string;
  limits: SandboxLimits;
}
export interface SandboxLimits {
  memoryBytes: number; pids: number; openFiles: number; cpuSeconds: number;
  fileSizeBytes: number; tmpBytes: number; diskBytes: number; maxFiles: number;
}

function pairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(',').filter(Boolean)) {
    const eq = item.indexOf('=');
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
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
  runs: {
    maxIterations: number; activationTimeoutMs: number; approvalTimeoutMs: number; humanReplyTimeoutMs: number; approvalTools: string[];
    shellTimeoutMs: number; shellTimeoutMaxMs: number; llmMaxTokens: number;
  };
  tools: { shellTimeoutMs: number; shellTimeoutMaxMs: number; outputMaxBytes: number };
  /** The S3 workspace: file-size cap of the file tools, retention of finished runs' files. */
  workspace: { fileMaxBytes: number; retentionDays: number };
  sandbox:
    | { kind: 'local'; local: LocalSandboxConfig }
    | { kind: 'unsafe-host' }
    | { kind: 'kubernetes'; kubernetes: KubernetesSandboxConfig };
  api: {
    host: string; port: number; bodyMaxBytes: number; sseHeartbeatMs: number;
    auth: AuthConfig;
    corsOrigins: string[];
    promptMaxChars: number;
    maxActiveRuns: number;
    rateLimit: { requests: number; windowS: number };
    idempotencyTtlS: number;
    /** Repair of run records left `queued` without a workflow (src/api/run-repair.ts); intervalS 0 = off. */
    repair: { intervalS: number; graceS: number };
    /** Open SSE streams per user and per process (src/api/sse-limits.ts). */
    sseLimits: { perUser: number; total: number };
    /** The API's separate /metrics listener. */
    metrics: { host: string; port: number };
  };
  worker: { shutdownGraceMs: number; heartbeatTtlS: number; maxConcurrentActivities: number };
  logLevel: RawConfig['LOG_LEVEL'];
  /** The jobs:* facade and its legacy ingress consumer. */
  queue: { keyPrefix: string; consumer: boolean; pollMs: number; maxAttempts: number; signingSecret?: string };
  /** Readiness checks and the worker's metrics endpoint. */
  ops: { readyTimeoutMs: number; workerMetricsHost: string; workerMetricsPort: number };
}

/** How callers are identified. `none` is the laptop demo: every request is `userId`. */
export type AuthConfig =
  | { mode: 'none'; userId: string }
  | {
    mode: 'jwt';
    /** How JWT signatures are checked; absent when only API keys are accepted. */
    jwt?: { kind: 'secret'; secret: string } | { kind: 'jwks'; url: string };
    issuer?: string;
    audience: string[];
    clockSkewS: number;
    apiKeys: { userId: string; sha256: string }[];
    /** User ids allowed on the operator routes (the queue facade). */
    operators: string[];
  };

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

function authConfig(c: RawConfig): AuthConfig {
  const set = [c.AUTH_JWT_SECRET && 'AUTH_JWT_SECRET', c.AUTH_JWKS_URL && 'AUTH_JWKS_URL', c.AUTH_API_KEYS && 'AUTH_API_KEYS'].filter((x): x is string => Boolean(x));
  const mode = c.AUTH_MODE ?? (set.length > 0 ? 'jwt' : 'none');
  if (mode === 'none') {
    if (set.length > 0) throw new ConfigError(`invalid configuration: AUTH_MODE=none but ${set.join(' and ')} ${set.length > 1 ? 'are' : 'is'} set (unset ${set.length > 1 ? 'them' : 'it'}, or use AUTH_MODE=jwt)`);
    if (c.AUTH_MODE === undefined && !LOOPBACK.test(c.API_HOST)) {
      throw new ConfigError(`invalid configuration: no authentication is configured and API_HOST=${c.API_HOST} is not a loopback address: set AUTH_JWT_SECRET or AUTH_JWKS_URL (and/or AUTH_API_KEYS), or listen on a loopback address`);
    }
    if (!LOOPBACK.test(c.API_HOST)) {
      throw new ConfigError(`invalid configuration: AUTH_MODE=none serves every request as DEFAULT_USER_ID, which is only allowed on a loopback address, and API_HOST=${c.API_HOST} is not one: listen on 127.0.0.1, or set AUTH_JWT_SECRET or AUTH_JWKS_URL (and/or AUTH_API_KEYS) with AUTH_MODE=jwt`);
    }
    return { mode: 'none', userId: c.DEFAULT_USER_ID };
  }
  if (c.AUTH_JWT_SECRET && c.AUTH_JWKS_URL) throw new ConfigError('invalid configuration: AUTH_JWT_SECRET and AUTH_JWKS_URL are both set (a token issuer signs with one or the other; set one)');
  if (set.length === 0) throw new ConfigError('invalid configuration: AUTH_MODE=jwt needs AUTH_JWT_SECRET or AUTH_JWKS_URL (and/or AUTH_API_KEYS)');
  const apiKeys = (c.AUTH_API_KEYS ?? '').split(',').filter(Boolean).map((pair) => {
    const colon = pair.lastIndexOf(':');
    return { userId: pair.slice(0, colon), sha256: pair.slice(colon + 1) };
  });
  const jwt = c.AUTH_JWT_SECRET ? { kind: 'secret' as const, secret: c.AUTH_JWT_SECRET }
    : c.AUTH_JWKS_URL ? { kind: 'jwks' as const, url: c.AUTH_JWKS_URL } : undefined;
  return { mode: 'jwt', jwt, issuer: c.AUTH_ISSUER, audience: c.AUTH_AUDIENCE.split(','), clockSkewS: c.AUTH_CLOCK_SKEW_S, apiKeys, operators: (c.AUTH_OPERATORS ?? '').split(',').filter(Boolean) };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const c = parseVars(withAliases(env));
  const provider = c.LLM_PROVIDER ?? (c.ANTHROPIC_API_KEY ? 'anthropic' : 'offline');
  if (provider === 'anthropic' && !c.ANTHROPIC_API_KEY) throw new ConfigError('invalid configuration: ANTHROPIC_API_KEY is required when LLM_PROVIDER=anthropic');
  if (c.SHELL_TIMEOUT_MS > c.SHELL_TIMEOUT_MAX_MS) {
    throw new ConfigError(`invalid configuration: SHELL_TIMEOUT_MS (${c.SHELL_TIMEOUT_MS}) is above SHELL_TIMEOUT_MAX_MS (${c.SHELL_TIMEOUT_MAX_MS})`);
  }
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
      shellTimeoutMs: c.SHELL_TIMEOUT_MS,
      shellTimeoutMaxMs: c.SHELL_TIMEOUT_MAX_MS,
      llmMaxTokens: c.ANTHROPIC_MAX_TOKENS,
    },
    tools: { shellTimeoutMs: c.SHELL_TIMEOUT_MS, shellTimeoutMaxMs: c.SHELL_TIMEOUT_MAX_MS, outputMaxBytes: c.TOOL_OUTPUT_MAX_BYTES },
    workspace: { fileMaxBytes: c.WORKSPACE_FILE_MAX_BYTES, retentionDays: c.WORKSPACE_RETENTION_DAYS },
    sandbox: c.SANDBOX === 'local' ? {
      kind: 'local',
      local: {
        bwrap: c.SANDBOX_BWRAP,
        limits: {
          memoryBytes: c.SANDBOX_MEMORY, pids: c.SANDBOX_PIDS, openFiles: c.SANDBOX_OPEN_FILES, cpuSeconds: c.SANDBOX_CPU_S,
          fileSizeBytes: c.SANDBOX_FILE_SIZE, tmpBytes: c.SANDBOX_TMP_SIZE, diskBytes: c.SANDBOX_DISK, maxFiles: c.SANDBOX_MAX_FILES,
        },
      },
    } : c.SANDBOX === 'unsafe-host' ? { kind: 'unsafe-host' } : {
      kind: 'kubernetes',
      kubernetes: {
        kubeconfig: c.K8S_KUBECONFIG, namespace: c.K8S_NAMESPACE, image: c.K8S_RUNNER_IMAGE,
        cpu: c.K8S_CPU, memory: c.K8S_MEMORY, ephemeralStorage: c.K8S_EPHEMERAL_STORAGE, ttlAfterFinishedS: c.K8S_TTL_AFTER_FINISHED_S, deadlineGraceS: c.K8S_DEADLINE_GRACE_S,
        s3Secret: c.K8S_S3_SECRET, s3Endpoint: c.K8S_RUNNER_S3_ENDPOINT ?? c.S3_ENDPOINT, s3Region: c.S3_REGION,
        s3Bucket: c.S3_BUCKET, s3ForcePathStyle: c.S3_FORCE_PATH_STYLE,
        podLabels: pairs(c.K8S_POD_LABELS), podAnnotations: pairs(c.K8S_POD_ANNOTATIONS),
      },
    },
    api: {
      host: c.API_HOST, port: c.API_PORT, bodyMaxBytes: c.API_BODY_MAX_BYTES,
      sseHeartbeatMs: c.SSE_HEARTBEAT_MS,
      auth: authConfig(c),
      corsOrigins: c.API_CORS_ORIGINS ? c.API_CORS_ORIGINS.split(',') : [],
      promptMaxChars: c.API_PROMPT_MAX_CHARS,
      maxActiveRuns: c.API_MAX_ACTIVE_RUNS,
      rateLimit: { requests: c.API_RATE_LIMIT, windowS: c.API_RATE_WINDOW_S },
      idempotencyTtlS: c.IDEMPOTENCY_TTL_S,
      repair: { intervalS: c.API_REPAIR_INTERVAL_S, graceS: c.API_REPAIR_GRACE_S },
      sseLimits: { perUser: c.SSE_MAX_STREAMS_PER_USER, total: c.SSE_MAX_STREAMS },
      metrics: { host: c.API_METRICS_HOST, port: c.API_METRICS_PORT },
    },
    worker: { shutdownGraceMs: c.WORKER_SHUTDOWN_GRACE_MS, heartbeatTtlS: c.WORKER_HEARTBEAT_TTL_S, maxConcurrentActivities: c.WORKER_MAX_CONCURRENT_ACTIVITIES },
    logLevel: c.LOG_LEVEL,
    queue: { keyPrefix: c.QUEUE_KEY_PREFIX, consumer: c.QUEUE_CONSUMER, pollMs: c.QUEUE_POLL_MS, maxAttempts: c.QUEUE_MAX_ATTEMPTS, signingSecret: c.INGRESS_SIGNING_SECRET },
    ops: { readyTimeoutMs: c.READYZ_TIMEOUT_MS, workerMetricsHost: c.WORKER_METRICS_HOST, workerMetricsPort: c.WORKER_METRICS_PORT },
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
