/**
 * The one contract every sandbox executor keeps: run a command or a piece of
 * code against a run's S3 workspace and report what happened.
 */
import type { ChangedFile, PushResult, SkippedFile, Snapshot } from '../shared/working-copy.ts';
import type { BrowserHost } from './browser.ts';
import type { PageSpec } from './browse.ts';
import type { EgressPolicy } from '../infra/egress.ts';
import type { McpCallResult, McpToolInfo } from '../infra/mcp/index.ts';

export type { CodeLanguage } from '../shared/run.ts';
import type { CodeLanguage } from '../shared/run.ts';

export interface SandboxRequest {
  runId: string;
  userId: string;
  /** Execution number of the step within the run; with runId it names the execution. */
  index: number;
  /** S3 prefix of the workspace's files (ends in `/`). */
  workspacePrefix: string;
  /** argv (no shell parses it), source code run by an interpreter, or a page for the browser tool (a pod's runner opens it). */
  command: { argv: string[] } | { code: { language: CodeLanguage; source: string } } | { browser: BrowserCommand } | { mcp: McpCommand };
  /** Extra, non-secret environment for the command. */
  env?: Record<string, string>;
  /** Container image (kubernetes); unset means the configured runner image. */
  image?: string;
  limits: { timeoutMs: number; outputMaxBytes: number };
}

/** A page for the browser tool, opened by a Kubernetes Job's runner (./browse-exec.ts). */
export interface BrowserCommand {
  page: PageSpec;
  /** Workspace paths the runner writes the screenshot and the text to. */
  files: { screenshot?: string; text?: string };
  egress: EgressPolicy;
  maxPageBytes: number;
  /** Chromium in the image (BROWSER_PATH). */
  chromium: string;
}

/** An MCP stdio server's tool call (or, without `call`, its tool listing) run by a Kubernetes Job's runner (./mcp-exec.ts). */
export interface McpCommand {
  server: string;
  /** The server's argv and variables (MCP_SERVERS). */
  argv: string[];
  env?: Record<string, string>;
  /** Run it in the workspace copy (MCP_SERVERS' `workspace`). */
  workspace: boolean;
  call?: { tool: string; args: Record<string, unknown> };
  timeoutMs: number;
}

/** What a runner's own command (a browser page, an MCP call) ends with; its report is one marked stdout line. */
export interface OwnOutcome { exitCode: number; stdout: string; stderr: string; durationMs: number }

/** The report of a runner's own command (`mark` then JSON on stdout), or, when there is none, why: its exit and last words. */
export function reportOf<T>(r: Pick<SandboxResult, 'exitCode' | 'signal' | 'stdout' | 'stderr'>, mark: string): { report: T } | { missing: string } {
  const line = r.exitCode === 0 ? r.stdout.split('\n').find((l) => l.startsWith(mark)) : undefined;
  if (line) return { report: JSON.parse(line.slice(mark.length)) as T };
  const last = r.stderr.trim().split('\n').pop()?.slice(0, 300);
  return { missing: `exit ${r.exitCode ?? r.signal}${last ? `: ${last}` : ''}` };
}

export interface SandboxResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** The command could not be started (not found, not executable). */
  spawnError?: string;
  stdout: string;
  stderr: string;
  truncated: boolean;
  changedFiles: ChangedFile[];
  /** Files the command left that were not synced back (symlinks, devices, unsafe names, too large). */
  skippedFiles: SkippedFile[];
  durationMs: number;
  /** A sandbox limit the command ran into (file size, CPU time, disk), in words. */
  limit?: string;
}

export interface SandboxContext {
  signal: AbortSignal;
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
  /** Called while waiting, so the activity's heartbeat keeps flowing. */
  heartbeat?: (details?: unknown) => void;
  /**
   * True when `signal` was aborted because this worker is stopping, not because the step was
   * cancelled: work that outlives the worker (a Job) is left for the step's next attempt to adopt.
   */
  workerStopping?: () => boolean;
}

/**
 * What an execution needs of the workspace store: pull a working copy, push it back,
 * read a result record. src/workspace's WorkspaceStore satisfies it; the entry point
 * (worker, runner) builds the store and passes it in, so the sandbox imports no S3 code.
 */
export interface SandboxWorkspace {
  /** WORKSPACE_FILE_MAX_BYTES: larger files a step leaves are not saved back. */
  readonly fileMaxBytes: number;
  pull(prefix: string, dir: string, maxBytes: number): Promise<Snapshot>;
  /** Throws the workspace's conflict error when S3 holds newer content than was pulled. */
  push(prefix: string, dir: string, snapshot: Snapshot, maxFileBytes: number): Promise<PushResult>;
  getJson<T>(key: string): Promise<T | undefined>;
}

export interface Executor {
  readonly kind: 'local' | 'unsafe-host' | 'kubernetes';
  /** The browser tool's Chromium in this executor's posture; absent: no browser here (the reason says why). */
  readonly browser?: BrowserHost;
  /** Why there is no browser, when there is none. */
  readonly browserAbsent?: string;
  /** The MCP connectors (MCP_SERVERS) in this executor's posture (./mcp.ts); absent when none are configured. */
  mcp?: McpConnectors;
  run(req: SandboxRequest, ctx: SandboxContext): Promise<SandboxResult>;
  /**
   * Stops whatever of run `runId` outlives its steps' activities (Jobs a stopped worker left
   * running), when the run ends cancelled; answers how many. Absent: nothing outlives them.
   */
  stopRun?(runId: string): Promise<number>;
  close?(): Promise<void>;
}

/** The argv that runs a request's command or code; code is read from `codeFile`. */
export function argvFor(command: SandboxRequest['command'], codeFile: string): string[] {
  if ('argv' in command) return command.argv;
  if ('browser' in command || 'mcp' in command) throw new Error('a browser or MCP command has no argv (the runner runs it itself)');
  switch (command.code.language) {
    case 'python': return ['python3', codeFile];
    case 'node': return ['node', codeFile];
    case 'bash': return ['bash', codeFile];
  }
}

export const CODE_EXTENSIONS: Record<CodeLanguage, string> = { python: '.py', node: '.mjs', bash: '.sh' };

/** A call of an MCP connector's tool (./mcp.ts runs it). */
export interface McpCallRequest {
  server: string;
  /** The step (a Kubernetes Job is named by it). */
  step: { runId: string; userId: string; index: number };
  tool: string;
  args: Record<string, unknown>;
  /** S3 prefix of the run's workspace files (a `workspace: true` server works on a copy of them). */
  workspacePrefix: string;
  timeoutMs: number;
  signal: AbortSignal;
}

export interface McpCallOutcome extends McpCallResult {
  /** Workspace files the server changed (saved back), for a `workspace: true` server. */
  changedFiles: number;
}

/** The MCP connectors of an executor. */
export interface McpConnectors {
  /** Why `server` cannot be called here, or undefined when it can. */
  absent(server: string): string | undefined;
  /** The tools the planner may use. */
  tools(): McpToolInfo[];
  call(req: McpCallRequest): Promise<McpCallOutcome>;
}
