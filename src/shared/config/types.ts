/** The typed slices of configuration the entry points pass down (built by loadConfig in ../config.ts). */
import type { McpServers } from './mcp.ts';
import type { RawConfig } from './vars.ts';

export interface KubernetesSandboxConfig {
  kubeconfig?: string; namespace: string; image: string;
  /** K8S_BROWSER_IMAGE: the browser tool's Job image (with Chromium at browserPath); unset: no browser. */
  browserImage?: string; browserPath: string;
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

/** A user's limits, or the defaults for users without their own; null is no limit. */
export interface LimitDefaults { dailyTokenLimit: number | null; monthlyCostLimit: number | null }

export interface Config {
  temporal: { address: string; namespace: string; taskQueue: string };
  redis: { url: string; streamMaxLen: number; streamTtlS: number };
  s3: {
    endpoint?: string; region: string; bucket: string; forcePathStyle: boolean;
    accessKeyId: string; secretAccessKey: string;
  };
  store:
    | { kind: 'postgres'; databaseUrl: string; poolMax: number; preparedStatements: boolean }
    | { kind: 'supabase'; url: string; serviceRoleKey: string };
  credits: {
    runReservation: number;
    /** Granted once to a user the API sees first (NEW_USER_CREDITS). */
    newUserCredits: number;
    /** DAILY_TOKEN_LIMIT / MONTHLY_COST_LIMIT: the limits of users without their own (null: none). */
    defaultLimits: LimitDefaults;
  };
  llm: {
    provider: 'offline' | 'anthropic';
    anthropic?: { apiKey: string; baseURL?: string; model: string; maxTokens: number; timeoutMs: number };
  };
  /** Per-run limits, copied into each run's input when it starts (so a config change never alters a running run). */
  runs: {
    maxIterations: number; activationTimeoutMs: number; approvalTimeoutMs: number; humanReplyTimeoutMs: number; approvalTools: string[];
    shellTimeoutMs: number; shellTimeoutMaxMs: number; llmMaxTokens: number;
  };
  tools: {
    shellTimeoutMs: number; shellTimeoutMaxMs: number; outputMaxBytes: number;
    /** fetch_url's egress policy (FETCH_*): see src/infra/egress.ts. */
    fetch: { allowHosts: string[]; allowPorts: number[]; maxBytes: number; timeoutMs: number };
    /** MCP connectors (MCP_SERVERS, MCP_TIMEOUT): each server's tools are mcp:<server>.<tool>. */
    mcp: { servers: McpServers; timeoutMs: number };
    /** The browser tool (BROWSER_*): Chromium's path, the load time cap, the page's byte cap. */
    browser: { path: string; timeoutMs: number; pageMaxBytes: number };
    /** web_search's provider (BRAVE_API_KEY, BRAVE_BASE_URL); absent: the tool is not available. */
    search?: { apiKey: string; baseUrl?: string };
    /** The first wait between attempts of a step whose outside service failed (OUTSIDE_RETRY_MS): src/activities/tools/outside.ts. */
    outsideRetryMs: number;
    /** The tool breakers (BREAKER_*): src/infra/breaker.ts. */
    breaker: { failures: number; cooldownS: number; maxCooldownS: number };
  };
  /** The S3 workspace: file-size cap of the file tools, retention of finished runs' files. */
  workspace: { fileMaxBytes: number; retentionDays: number };
  sandbox:
    | { kind: 'local'; local: LocalSandboxConfig }
    | { kind: 'unsafe-host' }
    | { kind: 'kubernetes'; kubernetes: KubernetesSandboxConfig };
  api: {
    host: string; port: number;
    /** Other API processes of this host share the port (API_REUSE_PORT, SO_REUSEPORT). */
    reusePort: boolean;
    bodyMaxBytes: number; sseHeartbeatMs: number; shutdownGraceMs: number;
    auth: AuthConfig;
    corsOrigins: string[];
    promptMaxChars: number;
    maxActiveRuns: number;
    /** What the web page at / is told: where the Temporal Web UI is (TEMPORAL_UI_URL), for its deep links. */
    page: { temporalUiUrl?: string; namespace: string };
    /** Retry-After of a 429 at maxActiveRuns, and the retry interval of a legacy entry waiting for a place (s). */
    runLimitRetryAfterS: number;
    rateLimit: { requests: number; windowS: number };
    idempotencyTtlS: number;
    /** Repair of run records left `queued` without a workflow (src/runs/repair.ts); intervalS 0 = off. */
    repair: { intervalS: number; graceS: number };
    /** Open SSE streams per user and per process (src/api/sse-limits.ts). */
    sseLimits: { perUser: number; total: number };
    /** The API's separate /metrics listener. */
    metrics: { host: string; port: number };
  };
  /**
   * workflowBundlePath: a prebuilt workflow bundle (WORKFLOW_BUNDLE_PATH); unset, the worker bundles at start.
   * deploymentName / buildId: the deployment version the worker reports (buildId unset: derived from the bundle).
   */
  worker: {
    shutdownGraceMs: number; heartbeatTtlS: number; maxConcurrentActivities: number; maxConcurrentLocalActivities: number; maxConcurrentWorkflowTasks: number; maxCachedWorkflows?: number; heartbeatThrottleMs: number; workflowThreads: number;
    workflowBundlePath?: string; deploymentName: string; buildId?: string };
  /** OpenTelemetry traces exported by OTLP/HTTP (src/infra/tracing.ts); absent: tracing is off. */
  tracing?: { otlpEndpoint: string };
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
