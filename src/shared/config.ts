/**
 * Configuration: one zod schema per variable, parsed once at an entry point by
 * `loadConfig(env)` and passed down as typed slices. Never read at import time.
 * Secrets have no defaults; the stack manager generates local ones.
 *
 * The parts: `config/vars.ts` (the variable table), `config/parse.ts` (aliases,
 * parsing, ConfigError), `config/types.ts` (the slices), `config/auth.ts` (the
 * authentication rules), `config/table.ts` (README's table). This file turns the
 * parsed variables into slices and checks the cross-field rules.
 */
import { authConfig } from './config/auth.ts';
import { ConfigError, readVars } from './config/parse.ts';
import type { Config } from './config/types.ts';
import { parseMcpServers } from './config/mcp.ts';
import type { McpServers } from './config/mcp.ts';

export { CONFIG_VARS, DEFAULT_FILE_MAX_BYTES, USER_ID_RE, type RawConfig } from './config/vars.ts';
export { CONFIG_ALIASES, ConfigError } from './config/parse.ts';
export type { AuthConfig, Config, KubernetesSandboxConfig, LimitDefaults, LocalSandboxConfig, SandboxLimits } from './config/types.ts';
export { configTable } from './config/table.ts';

function pairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(',').filter(Boolean)) {
    const eq = item.indexOf('=');
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** MCP_SERVERS parsed, or a one-line ConfigError naming each problem (never quoting values: headers carry tokens). */
function mcpServersOf(json: string | undefined): McpServers {
  try {
    return parseMcpServers(json);
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${(err as Error).message.replace(/\n\s*/g, '; ')}`);
  }
}

/** The typed configuration of a process, from its environment; throws a one-line ConfigError when it cannot run. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const c = readVars(env);
  const provider = c.LLM_PROVIDER ?? (c.ANTHROPIC_API_KEY ? 'anthropic' : 'offline');
  if (c.API_REUSE_PORT && c.API_PORT === 0) throw new ConfigError('invalid configuration: API_REUSE_PORT=true shares one API_PORT among processes, and API_PORT=0 gives each its own: set API_PORT');
  if (provider === 'anthropic' && !c.ANTHROPIC_API_KEY) throw new ConfigError('invalid configuration: ANTHROPIC_API_KEY is required when LLM_PROVIDER=anthropic');
  if (c.SHELL_TIMEOUT_MS > c.SHELL_TIMEOUT_MAX_MS) {
    throw new ConfigError(`invalid configuration: SHELL_TIMEOUT_MS (${c.SHELL_TIMEOUT_MS}) is above SHELL_TIMEOUT_MAX_MS (${c.SHELL_TIMEOUT_MAX_MS})`);
  }
  let store: Config['store'];
  if (c.STORE === 'postgres') {
    if (!c.DATABASE_URL) throw new ConfigError('invalid configuration: DATABASE_URL is required when STORE=postgres');
    store = { kind: 'postgres', databaseUrl: c.DATABASE_URL, poolMax: c.DATABASE_POOL_MAX, preparedStatements: c.DATABASE_PREPARED_STATEMENTS };
  } else {
    if (!c.SUPABASE_URL || !c.SUPABASE_SERVICE_ROLE_KEY) {
      throw new ConfigError('invalid configuration: SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are required when STORE=supabase');
    }
    store = { kind: 'supabase', url: c.SUPABASE_URL, serviceRoleKey: c.SUPABASE_SERVICE_ROLE_KEY };
  }
  return {
    store,
    credits: {
      runReservation: c.RUN_CREDIT_RESERVATION, newUserCredits: c.NEW_USER_CREDITS,
      defaultLimits: { dailyTokenLimit: c.DAILY_TOKEN_LIMIT ?? null, monthlyCostLimit: c.MONTHLY_COST_LIMIT ?? null },
    },
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
    tools: {
      shellTimeoutMs: c.SHELL_TIMEOUT_MS, shellTimeoutMaxMs: c.SHELL_TIMEOUT_MAX_MS, outputMaxBytes: c.TOOL_OUTPUT_MAX_BYTES,
      fetch: {
        allowHosts: c.FETCH_ALLOW_HOSTS ? c.FETCH_ALLOW_HOSTS.split(',').map((h) => h.toLowerCase()) : [],
        allowPorts: c.FETCH_ALLOW_PORTS.split(',').map(Number), maxBytes: c.FETCH_MAX_BYTES, timeoutMs: c.FETCH_TIMEOUT_MS,
      },
      mcp: { servers: mcpServersOf(c.MCP_SERVERS), timeoutMs: c.MCP_TIMEOUT * 1000 },
      browser: { path: c.BROWSER_PATH, timeoutMs: c.BROWSER_TIMEOUT_MS, pageMaxBytes: c.BROWSER_PAGE_MAX_BYTES },
      ...(c.BRAVE_API_KEY ? { search: { apiKey: c.BRAVE_API_KEY, baseUrl: c.BRAVE_BASE_URL } } : {}),
      outsideRetryMs: c.OUTSIDE_RETRY_MS,
      breaker: { failures: c.BREAKER_FAILURES, cooldownS: c.BREAKER_COOLDOWN_S, maxCooldownS: c.BREAKER_COOLDOWN_MAX_S },
    },
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
        kubeconfig: c.K8S_KUBECONFIG, namespace: c.K8S_NAMESPACE, image: c.K8S_RUNNER_IMAGE, browserImage: c.K8S_BROWSER_IMAGE, browserPath: c.BROWSER_PATH,
        cpu: c.K8S_CPU, memory: c.K8S_MEMORY, ephemeralStorage: c.K8S_EPHEMERAL_STORAGE, ttlAfterFinishedS: c.K8S_TTL_AFTER_FINISHED_S, deadlineGraceS: c.K8S_DEADLINE_GRACE_S,
        s3Secret: c.K8S_S3_SECRET, s3Endpoint: c.K8S_RUNNER_S3_ENDPOINT ?? c.S3_ENDPOINT, s3Region: c.S3_REGION,
        s3Bucket: c.S3_BUCKET, s3ForcePathStyle: c.S3_FORCE_PATH_STYLE,
        podLabels: pairs(c.K8S_POD_LABELS), podAnnotations: pairs(c.K8S_POD_ANNOTATIONS),
      },
    },
    api: {
      host: c.API_HOST, port: c.API_PORT, reusePort: c.API_REUSE_PORT, bodyMaxBytes: c.API_BODY_MAX_BYTES,
      sseHeartbeatMs: c.SSE_HEARTBEAT_MS, shutdownGraceMs: c.API_SHUTDOWN_GRACE_MS,
      auth: authConfig(c),
      corsOrigins: c.API_CORS_ORIGINS ? c.API_CORS_ORIGINS.split(',') : [],
      promptMaxChars: c.API_PROMPT_MAX_CHARS,
      maxActiveRuns: c.API_MAX_ACTIVE_RUNS,
      runLimitRetryAfterS: c.API_RUN_LIMIT_RETRY_AFTER_S,
      rateLimit: { requests: c.API_RATE_LIMIT, windowS: c.API_RATE_WINDOW_S },
      idempotencyTtlS: c.IDEMPOTENCY_TTL_S,
      repair: { intervalS: c.API_REPAIR_INTERVAL_S, graceS: c.API_REPAIR_GRACE_S },
      sseLimits: { perUser: c.SSE_MAX_STREAMS_PER_USER, total: c.SSE_MAX_STREAMS },
      metrics: { host: c.API_METRICS_HOST, port: c.API_METRICS_PORT },
      page: { temporalUiUrl: c.TEMPORAL_UI_URL, namespace: c.TEMPORAL_NAMESPACE },
    },
    worker: { shutdownGraceMs: c.WORKER_SHUTDOWN_GRACE_MS, heartbeatTtlS: c.WORKER_HEARTBEAT_TTL_S, maxConcurrentActivities: c.WORKER_MAX_CONCURRENT_ACTIVITIES,
      maxConcurrentLocalActivities: c.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES, maxConcurrentWorkflowTasks: c.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS, maxCachedWorkflows: c.WORKER_MAX_CACHED_WORKFLOWS,
      heartbeatThrottleMs: c.WORKER_HEARTBEAT_THROTTLE_MS, workflowThreads: c.WORKER_WORKFLOW_THREADS,
      workflowBundlePath: c.WORKFLOW_BUNDLE_PATH,
      deploymentName: c.WORKER_DEPLOYMENT_NAME, buildId: c.WORKER_BUILD_ID },
    ...(c.OTEL_EXPORTER_OTLP_ENDPOINT ? { tracing: { otlpEndpoint: c.OTEL_EXPORTER_OTLP_ENDPOINT } } : {}),
    logLevel: c.LOG_LEVEL,
    queue: { keyPrefix: c.QUEUE_KEY_PREFIX, consumer: c.QUEUE_CONSUMER, pollMs: c.QUEUE_POLL_MS, maxAttempts: c.QUEUE_MAX_ATTEMPTS, signingSecret: c.INGRESS_SIGNING_SECRET },
    ops: { readyTimeoutMs: c.READYZ_TIMEOUT_MS, workerMetricsHost: c.WORKER_METRICS_HOST, workerMetricsPort: c.WORKER_METRICS_PORT },
  };
}

