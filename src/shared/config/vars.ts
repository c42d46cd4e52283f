/**
 * The variable table: every environment variable a process reads, with its
 * schema, one-line description, default and whether it is a secret. Adding a
 * variable is one row here plus the slice that carries it (../config.ts).
 */
import { z } from 'zod';
import { MCP_SERVER_NAME, MCP_TOOL_NAME } from './mcp.ts';

/** User ids (JWT `sub`, API-key owners, DEFAULT_USER_ID) become S3 key segments: a strict alphabet, no dots or slashes. */
export const USER_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const QUANTITY_UNITS: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
/** A byte size as Kubernetes writes it (`512Mi`, `2Gi`) or plain bytes; at least 1 MiB. */
const quantity = z.string().regex(/^\d+(Ki|Mi|Gi|Ti)?$/, 'must be a size like 512Mi, 2Gi or a number of bytes')
  .transform((text) => Number(/^\d+/.exec(text)![0]) * QUANTITY_UNITS[text.replace(/^\d+/, '')]!)
  .refine((n) => n >= 1024 ** 2 && Number.isSafeInteger(n), 'must be at least 1Mi');

export interface VarSpec<T extends z.ZodType> {
  schema: T;
  description: string;
  /** Shown in the README table; undefined means required. */
  default?: string;
  secret?: boolean;
}
function v<T extends z.ZodType>(schema: T, description: string, def?: string, secret = false): VarSpec<T> {
  return { schema, description, default: def, secret };
}

/** One APPROVAL_TOOLS entry: a tool, or a connector's server or tool in the form tool-label.ts matches. */
const approvalEntry = `([a-z_]+|mcp:${MCP_SERVER_NAME.source.slice(1, -1)}(\\.${MCP_TOOL_NAME.source.slice(1, -1)})?)`;
const APPROVAL_TOOLS_RE = new RegExp(`^(|${approvalEntry}(,${approvalEntry})*)$`);

/** WORKSPACE_FILE_MAX_BYTES when unset (also the runner's, when a Job does not say). */
export const DEFAULT_FILE_MAX_BYTES = 100 * 1024 * 1024;

/** Every variable the processes read, with its description and default. */
export const CONFIG_VARS = {
  TEMPORAL_ADDRESS: v(z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port'), 'Temporal frontend gRPC address', '127.0.0.1:17233'),
  TEMPORAL_NAMESPACE: v(z.string().min(1), 'Temporal namespace', 'default'),
  TEMPORAL_UI_URL: v(z.url({ protocol: /^https?$/ }).optional(), 'The Temporal Web UI as people reach it (e.g. `http://127.0.0.1:18233`): the web page links each run to its workflow there; unset: no link', undefined),
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
  WORKSPACE_FILE_MAX_BYTES: v(int(1, 5_497_558_138_880), 'Largest file the file tools write or read (bytes); larger ones fail the step (`FileTooLarge`) and a sandbox step does not save them', String(DEFAULT_FILE_MAX_BYTES)),
  WORKSPACE_RETENTION_DAYS: v(int(0, 36_500), 'Days after a run ends before its workspace files are deleted (0 keeps them forever); the worker schedules the sweep', '0'),
  STORE: v(z.enum(['postgres', 'supabase']), 'Records and credits: `postgres` (DATABASE_URL, via pg) or `supabase` (SUPABASE_URL + service-role key, via supabase-js)', 'postgres'),
  DATABASE_URL: v(z.url({ protocol: /^postgres(ql)?$/ }).optional(), 'Postgres URL for STORE=postgres (local stack, or Supabase\'s direct connection string)', undefined, true),
  DATABASE_POOL_MAX: v(int(1, 1000), 'Connections one process keeps to Postgres at most (STORE=postgres); one pool per process', '10'),
  DATABASE_PREPARED_STATEMENTS: v(bool, 'Prepare each statement once per connection (STORE=postgres); set false behind a transaction-mode pooler (Supabase\'s port 6543, PgBouncer) that cannot keep them', 'true'),
  SUPABASE_URL: v(z.url({ protocol: /^https?$/ }).optional(), 'Supabase project URL for STORE=supabase (REST under /rest/v1)', undefined),
  SUPABASE_SERVICE_ROLE_KEY: v(z.string().min(20).optional(), 'Supabase service-role key for STORE=supabase (bypasses RLS; never give it to clients)', undefined, true),
  RUN_CREDIT_RESERVATION: v(int(1, 1_000_000_000), 'Credits reserved when a run starts; unused credits return at settle', '100'),
  DAILY_TOKEN_LIMIT: v(int(1, 1_000_000_000_000).optional(), 'LLM tokens a user may use per UTC day, for users without limits of their own (an operator sets those: PUT /v1/users/{userId}/limits); unset: no daily limit', undefined),
  MONTHLY_COST_LIMIT: v(int(1, 1_000_000_000_000).optional(), 'Credits a user may spend per UTC month (charges and open holds), for users without limits of their own; unset: no monthly limit', undefined),
  NEW_USER_CREDITS: v(int(0, 1_000_000_000), 'Credits granted once to each user, the first time the API sees them while this is above 0: a user first seen while it was 0 gets them on a later request to an API running with it above 0 (idempotent per user; `./dev` sets it for the local stack)', '0'),
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
  APPROVAL_TOOLS: v(z.string().regex(APPROVAL_TOOLS_RE, 'must be a comma-separated list of tool names, `mcp:<server>` or `mcp:<server>.<tool>`'), 'Tools whose presence in a plan requires approval (e.g. `shell`)', ''),
  SHELL_TIMEOUT_MS: v(int(100, 3_600_000), 'Default wall-clock limit of a shell or code step', '60000'),
  SHELL_TIMEOUT_MAX_MS: v(int(100, 3_600_000), 'Longest wall-clock limit a plan may give a shell or code step (`timeoutMs`); a longer one is cut to it. A step is paid for at its limit before it starts', '600000'),
  TOOL_OUTPUT_MAX_BYTES: v(int(1024, 16_777_216), 'Cap on captured stdout/stderr per shell step', '65536'),
  BRAVE_API_KEY: v(z.string().min(8).optional(), 'Brave Search API key: web_search is a tool only with it (without it the planner is not offered it and a plan naming it fails with the reason)', undefined, true),
  BRAVE_BASE_URL: v(z.url({ protocol: /^https?$/ }).optional(), 'Brave Search API base URL (a gateway or proxy); unset means https://api.search.brave.com', undefined),
  OUTSIDE_RETRY_MS: v(int(10, 60_000), 'web_search, fetch_url, browser and MCP steps: the wait before the second attempt after their outside service failed (unless it said how long, e.g. Retry-After); it doubles for each attempt after, up to 8 times it', '2000'),
  BREAKER_FAILURES: v(int(1, 1000), 'Failed steps of one tool in a row, for one user, that open its breaker: the tool is then refused for that user for BREAKER_COOLDOWN_S', '5'),
  BREAKER_COOLDOWN_S: v(int(1, 86_400), 'How long an open breaker refuses its tool; it doubles each time the tool fails again right after, up to BREAKER_COOLDOWN_MAX_S', '60'),
  BREAKER_COOLDOWN_MAX_S: v(int(1, 604_800), 'The longest an open breaker refuses its tool', '3600'),
  FETCH_ALLOW_HOSTS: v(z.string().regex(/^(|[^\s,]+:\d+(,[^\s,]+:\d+)*)$/, 'must be a comma-separated list of host:port'), 'fetch_url: exact `host:port` entries it may reach even on private, loopback or other refused addresses and ports (tests, private deployments); everything else must resolve to public unicast addresses only', ''),
  FETCH_ALLOW_PORTS: v(z.string().regex(/^\d{1,5}(,\d{1,5})*$/, 'must be a comma-separated list of ports'), 'fetch_url: the ports a URL may name (other than FETCH_ALLOW_HOSTS entries)', '80,443'),
  FETCH_MAX_BYTES: v(int(1024, 104_857_600), 'fetch_url: the largest response body it takes (bytes); a larger one fails the step', '5242880'),
  FETCH_TIMEOUT_MS: v(int(1000, 120_000), 'fetch_url: the time one fetch may take, redirects included', '15000'),
  MCP_SERVERS: v(z.string().optional(), 'MCP connectors: a JSON object name → `{"command": [argv…], "env"?, "mount"?, "workspace"?, "image"?}` (stdio, run in the sandbox; `mount` is a host directory bound read-only at /opt/mcp/<its name>, `workspace` runs it in the step\'s workspace copy, `image` is its Kubernetes Jobs\' exec image) or `{"url", "headers"?}` (Streamable HTTP). Each server\'s tools become mcp:<server>.<tool>', undefined, true),
  MCP_TIMEOUT: v(int(1, 3600), 'MCP connectors: seconds one tool call may take (the seeds\' name)', '30'),
  BROWSER_PATH: v(z.string().regex(/^\//, 'must be an absolute path'), 'browser: the Chromium binary (Debian\'s `chromium` package); when it is missing the tool is not offered and a plan naming it fails with the reason (SANDBOX=kubernetes: its path in K8S_BROWSER_IMAGE)', '/usr/lib/chromium/chromium'),
  BROWSER_TIMEOUT_MS: v(int(1000, 300_000), 'browser: how long a page may take to load; a slower one is shown as far as it got', '30000'),
  BROWSER_PAGE_MAX_BYTES: v(int(65_536, 1_073_741_824), 'browser: bytes all the requests of one page may bring together (each also under FETCH_MAX_BYTES)', '52428800'),
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
  K8S_BROWSER_IMAGE: v(z.string().min(1).optional(), 'A runner image with Chromium (BROWSER_PATH) for the browser tool\'s Jobs (`./dev image` builds localhost/agentrun-runner-browser:dev); unset, a SANDBOX=kubernetes worker does not offer the browser', undefined),
  K8S_POD_LABELS: v(z.string().regex(/^(|[\w./-]+=[\w.-]*(,[\w./-]+=[\w.-]*)*)$/, 'must be k=v,k=v'), 'Extra labels on tool pods (network-policy or cost selectors), `k=v,k=v`', ''),
  K8S_POD_ANNOTATIONS: v(z.string().regex(/^(|[\w./-]+=[^,]*(,[\w./-]+=[^,]*)*)$/, 'must be k=v,k=v'), 'Extra annotations on tool pods, `k=v,k=v`', ''),
  API_HOST: v(z.string().min(1), 'Address the API listens on', '127.0.0.1'),
  API_PORT: v(int(0, 65535), 'Port the API listens on (0 picks a free one)', '18080'),
  API_REUSE_PORT: v(bool, 'Let several API processes on one host listen on the same API_PORT (SO_REUSEPORT, Linux): the kernel spreads new connections among them, so event streams use every core. Each process keeps its own event hub, SSE caps and metrics port; needs a fixed API_PORT', 'false'),
  API_BODY_MAX_BYTES: v(int(1024, 10_485_760), 'Largest accepted JSON body', '262144'),
  SSE_HEARTBEAT_MS: v(int(100, 300_000), 'Interval of SSE comment heartbeats', '15000'),
  API_SHUTDOWN_GRACE_MS: v(int(0, 3_600_000), 'How long a stopping API lets requests in flight finish after it ended its event streams (with a `: shutting down` comment) and stopped accepting; then it closes what is left and exits. Keep it below the pod\'s terminationGracePeriodSeconds', '10000'),
  DEFAULT_USER_ID: v(z.string().regex(USER_ID_RE, 'must be 1-128 of A-Z a-z 0-9 _ -'), 'The user every request acts as when AUTH_MODE=none (the laptop demo)', 'local'),
  AUTH_MODE: v(z.enum(['jwt', 'none']).optional(), '`jwt`: every request carries a bearer JWT (or an API key); `none`: every request is DEFAULT_USER_ID. Unset: `jwt` when AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_API_KEYS is set, else `none` — allowed only with a loopback API_HOST', undefined),
  AUTH_JWT_SECRET: v(z.string().min(32, 'must be at least 32 characters').optional(), 'HS256 secret JWTs are signed with (Supabase: Project Settings → API → JWT secret; the local stack\'s is SUPABASE_JWT_SECRET)', undefined, true),
  AUTH_JWKS_URL: v(z.url({ protocol: /^https?$/ }).optional(), 'JWKS URL of the token issuer (asymmetric keys: RS*, PS*, ES*, EdDSA; e.g. `https://<project>.supabase.co/auth/v1/.well-known/jwks.json`); excludes AUTH_JWT_SECRET', undefined),
  AUTH_ISSUER: v(z.string().min(1).optional(), 'Required `iss` of JWTs (Supabase: `https://<project>.supabase.co/auth/v1`); unset: not checked', undefined),
  AUTH_AUDIENCE: v(z.string().regex(/^[^,\s]+(,[^,\s]+)*$/, 'must be a comma-separated list'), 'Accepted `aud` values of JWTs, comma-separated (Supabase: `authenticated`)', 'authenticated'),
  AUTH_CLOCK_SKEW_S: v(int(0, 300), 'Seconds of clock skew tolerated on `exp` / `nbf`', '5'),
  AUTH_OPERATORS: v(z.string().regex(/^[A-Za-z0-9_-]{1,128}(,[A-Za-z0-9_-]{1,128})*$/, 'must be a comma-separated list of user ids').optional(), 'User ids (JWT `sub` or API-key owners), comma-separated, allowed on the operator routes (`/v1/queue*`, `/v1/users/*`); with AUTH_MODE=jwt nobody else is. With AUTH_MODE=none DEFAULT_USER_ID is the operator', undefined),
  AUTH_API_KEYS: v(z.string().regex(/^[A-Za-z0-9_-]{1,128}:[0-9a-f]{64}(,[A-Za-z0-9_-]{1,128}:[0-9a-f]{64})*$/, 'must be userId:sha256hex,… (lowercase hex)').optional(), 'Static API keys of service callers, as `userId:sha256hex,…` (the SHA-256 of each `ak_…` key; the keys themselves are never stored); sent as `Authorization: Bearer ak_…` or `X-API-Key`', undefined, true),
  API_CORS_ORIGINS: v(z.string().regex(/^(|https?:\/\/[^,\s/]+(,https?:\/\/[^,\s/]+)*)$/, 'must be a comma-separated list of origins like https://app.example.com'), 'Browser origins allowed to call the API (CORS), comma-separated; empty: none', ''),
  API_PROMPT_MAX_CHARS: v(int(1, 1_000_000), 'Longest prompt accepted (characters)', '20000'),
  API_MAX_ACTIVE_RUNS: v(int(1, 100_000), 'Runs one user may have going at once (queued, planning, awaiting approval, running, paused); more is 429', '10'),
  API_RATE_LIMIT: v(int(1, 1_000_000), 'Requests one user may make per API_RATE_WINDOW_S, counted in Redis across API processes; more is 429 with Retry-After', '600'),
  API_RATE_WINDOW_S: v(int(1, 3600), 'Window of API_RATE_LIMIT (seconds)', '60'),
  API_RUN_LIMIT_RETRY_AFTER_S: v(int(1, 3600), 'How long a user at API_MAX_ACTIVE_RUNS is asked to wait (Retry-After of the 429), and how often a legacy jobs:* entry waiting for a place is tried again (seconds)', '10'),
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
  WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: v(int(1, 10_000), 'Short calls (records, events, credits) and file steps — local activities inside workflow tasks — one worker runs at once', '100'),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: v(int(2, 10_000), 'Workflow tasks one worker processes at once (its pollers are half of it, at most 10)', '40'),
  WORKER_MAX_CACHED_WORKFLOWS: v(int(0, 1_000_000).optional(), 'Runs one worker keeps in its sticky cache (a cached run resumes without replaying its history); unset: the SDK\'s share of the heap (about 600 per GB)', undefined),
  WORKER_HEARTBEAT_THROTTLE_MS: v(int(100, 60_000), 'Most time between a running step\'s heartbeats reaching Temporal: how soon a cancelled step learns it is cancelled (the SDK\'s default, 80 % of the 10 s heartbeat timeout, made cancels take up to 8 s)', '1000'),
  WORKER_WORKFLOW_THREADS: v(int(1, 64), 'Threads one worker runs workflow code on (each run stays on one); more than one uses more cores for many runs at once', '1'),
  WORKFLOW_BUNDLE_PATH: v(z.string().min(1).optional(), 'A workflow bundle prebuilt by `node src/worker/bundle.ts <file>` (the app image sets it); unset: the worker bundles src/workflows at start', undefined),
  WORKER_DEPLOYMENT_NAME: v(z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be 1-128 of A-Z a-z 0-9 . _ -'), 'The Temporal worker deployment this worker reports with its build id (the deployment version on each workflow task it completes; Worker Versioning stays off, see docs/deploy.md)', 'agentrun'),
  WORKER_BUILD_ID: v(z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be 1-128 of A-Z a-z 0-9 . _ -').optional(), 'The build id this worker reports with each workflow task it completes (shown in the Web UI\'s history); unset: `wf-` and the first 12 hex digits of the workflow bundle\'s SHA-256, so one workflow code is one id', undefined),
  QUEUE_KEY_PREFIX: v(z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 : _ . -'), 'Prefix of the queue facade\'s Redis lists (`jobs:` gives the seeds\' `jobs:pending`, `jobs:processing`, …); the worker and the API must agree', 'jobs:'),
  QUEUE_CONSUMER: v(bool, 'Run the legacy ingress consumer in this API process (starts runs a seed-era producer LPUSHes onto jobs:pending / jobs:high_priority)', 'true'),
  QUEUE_POLL_MS: v(int(10, 60_000), 'How often an idle legacy ingress consumer looks for new entries (ms)', '250'),
  QUEUE_MAX_ATTEMPTS: v(int(1, 100), 'Attempts a legacy job gets through transient outages (parked in jobs:retry with backoff) before it is dead-lettered', '5'),
  INGRESS_SIGNING_SECRET: v(z.string().min(32, 'must be at least 32 characters').optional(), 'HMAC-SHA256 key of legacy queue entries (`sig`, see "Redis is a transport, never an authority"); the consumer refuses to start without it, and the API signs the entries it enqueues with it (the stack manager generates a local one)', undefined, true),
  READYZ_TIMEOUT_MS: v(int(100, 60_000), 'Time limit of each dependency check of GET /readyz (ms)', '2000'),
  WORKER_METRICS_HOST: v(z.string().min(1), 'Address the worker\'s /metrics listens on (loopback by default)', '127.0.0.1'),
  WORKER_METRICS_PORT: v(int(0, 65535), 'Port of the worker\'s /metrics (its own and the Temporal SDK\'s series) and its probes: /healthz, and /readyz (200 only while it runs and both pollers poll the task queue — the readiness probe of k8s/); 0 picks a free one (logged)', '0'),
  OTEL_EXPORTER_OTLP_ENDPOINT: v(z.url({ protocol: /^https?$/ }).optional(), 'OpenTelemetry: base URL of an OTLP/HTTP receiver (a collector, e.g. `http://otel-collector:4318`); the API and the worker export their traces to `<it>/v1/traces` (HTTP request → workflow start → workflow → each activity, one trace; an incoming `traceparent` is joined). The exporter\'s own OTEL_EXPORTER_OTLP_* variables (headers, timeout, a traces endpoint) and OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES apply. Unset: no tracing', undefined),
  LOG_LEVEL: v(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'pino log level', 'info'),
} as const;

type Vars = typeof CONFIG_VARS;
export type RawConfig = { [K in keyof Vars]: z.output<Vars[K]['schema']> };
