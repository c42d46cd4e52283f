/**
 * One execution against a workspace, in three phases that share directories:
 *
 *   pull  — S3 → `workspace/`, plus the snapshot (etags, hashes) in `state/`
 *           and any code to run in `exchange/`          (has S3 credentials)
 *   exec  — the command in `workspace/`, its outcome to `exchange/`
 *           (no credentials, no snapshot: untrusted code runs here)
 *   push  — changed files back to S3, conditionally, and the result
 *                                                      (has S3 credentials)
 *
 * The local executor runs the phases in one process; a Kubernetes Job runs
 * them as two init containers and a main container of one pod, so the code a
 * model wrote never shares a container with the credentials.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { PulledFile, Snapshot } from '../shared/working-copy.ts';
import { limitFromExit } from './bwrap.ts';
import type { Jail } from './jail.ts';
import { runShell, type ShellResult } from './process.ts';
import { argvFor, CODE_EXTENSIONS, type SandboxContext, type SandboxRequest, type SandboxResult, type SandboxWorkspace } from './types.ts';

/** Largest workspace a step's working copy pulls (bytes). */
export const WORKING_COPY_MAX_BYTES = 1 << 30;

export interface ExecuteOptions {
  maxWorkspaceBytes: number;
  maxFileBytes: number;
  /** Variables copied from this process's environment into the command's (without a jail). */
  envAllowList?: readonly string[];
  /** Run the command in this bubblewrap jail (SANDBOX=local); unset runs it as a plain child process. */
  jail?: Jail;
}

export interface PhaseDirs {
  workspace: string; state: string; exchange: string;
  /**
   * HOME and TMPDIR of the command (caches, temp files): kept out of the
   * workspace so they are never pushed. Unset means a fresh directory under
   * the system's temp dir, removed after the command.
   */
  home?: string;
}

export interface ExecOutcome {
  exitCode: number | null; signal: string | null; timedOut: boolean; spawnError?: string;
  stdout: string; stderr: string; truncated: boolean; durationMs: number;
  /** A sandbox limit the command ran into (file size, CPU time, disk), in words. */
  limit?: string;
  /** The jail stopped the command (disk limit): its workspace copy is not pushed. */
  discarded?: boolean;
}

const SNAPSHOT = 'snapshot.json';
const OUTCOME = 'outcome.json';

function codeFile(req: SandboxRequest, dirs: PhaseDirs): string {
  return 'code' in req.command ? join(dirs.exchange, `step${CODE_EXTENSIONS[req.command.code.language]}`) : '';
}

export async function pullPhase(workspace: SandboxWorkspace, req: SandboxRequest, dirs: PhaseDirs, opts: ExecuteOptions): Promise<void> {
  const snap = await workspace.pull(req.workspacePrefix, dirs.workspace, opts.maxWorkspaceBytes);
  await writeFile(join(dirs.state, SNAPSHOT), JSON.stringify([...snap]));
  if ('code' in req.command) await writeFile(codeFile(req, dirs), req.command.code.source, { mode: 0o644 });
}

export async function execPhase(req: SandboxRequest, dirs: PhaseDirs, ctx: SandboxContext, opts: ExecuteOptions): Promise<ExecOutcome> {
  ctx.signal.throwIfAborted();
  // A browser page or an MCP call the runner does itself; each module is loaded only for its own command.
  const own = 'browser' in req.command ? await (await import('./browse-exec.ts')).browseExec(req.command.browser, dirs.workspace, ctx.signal)
    : 'mcp' in req.command ? await (await import('./mcp-exec.ts')).mcpExec(req.command.mcp, dirs.workspace, ctx.signal)
    : undefined;
  if (own) {
    const outcome: ExecOutcome = { ...own, signal: null, timedOut: false, truncated: false };
    await writeFile(join(dirs.exchange, OUTCOME), JSON.stringify(outcome));
    return outcome;
  }
  const r: ShellResult & { limit?: string } = opts.jail ? await jailedExec(opts.jail, req, dirs, ctx) : await hostExec(req, dirs, ctx, opts);
  if (r.cancelled) throw ctx.signal.reason ?? new Error('cancelled');
  const limit = r.stopped ?? r.limit;
  const outcome: ExecOutcome = {
    exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, spawnError: r.spawnError,
    stdout: r.stdout, stderr: r.stderr, truncated: r.truncated, durationMs: r.durationMs,
    ...(limit ? { limit } : {}), ...(r.stopped ? { discarded: true } : {}),
  };
  await writeFile(join(dirs.exchange, OUTCOME), JSON.stringify(outcome));
  return outcome;
}

/** The command in a bubblewrap jail: it sees its workspace copy and nothing else of the host. */
async function jailedExec(jail: Jail, req: SandboxRequest, dirs: PhaseDirs, ctx: SandboxContext): Promise<ShellResult & { limit?: string }> {
  const code = codeFile(req, dirs);
  // bubblewrap runs as the jail's user and must reach the code file to bind it.
  if (code) await chmod(dirs.exchange, 0o711);
  const jailed = await jail.enter({
    scratch: dirname(dirs.workspace), workspaceDir: dirs.workspace, codeFile: code || undefined, env: req.env,
    command: (codeDir) => argvFor(req.command, code ? `${codeDir}/${basename(code)}` : ''),
  });
  let r: ShellResult;
  try {
    r = await runShell({
      argv: jailed.argv, cwd: dirs.workspace, env: jailed.env, exactEnv: true, runAs: jailed.runAs, stop: jailed.stop,
      timeoutMs: req.limits.timeoutMs, outputMaxBytes: req.limits.outputMaxBytes, signal: ctx.signal, onLine: ctx.onLine,
    });
  } catch (err) {
    await jailed.leave().catch(() => undefined);
    throw err;
  }
  const left = await jailed.leave();
  // prlimit starts the command inside the jail: its "failed to execute" is the command not starting.
  const notStarted = /^prlimit: failed to execute (.*)$/m.exec(r.stderr);
  if (notStarted && !r.spawnError && (r.exitCode === 127 || r.exitCode === 126)) {
    return { ...r, spawnError: `${r.exitCode === 127 ? 'ENOENT' : 'EACCES'}: ${notStarted[1]} (in the sandbox)` };
  }
  const limit = left.oomKilled ? `its processes together reached the memory limit SANDBOX_MEMORY (${jail.limits.memoryBytes} bytes): killed by the OOM killer`
    : r.timedOut ? undefined : limitFromExit(r.exitCode, jail.limits);
  return limit ? { ...r, limit } : r;
}

/** The command as a plain child process (the Kubernetes runner inside its container, or SANDBOX=unsafe-host). */
async function hostExec(req: SandboxRequest, dirs: PhaseDirs, ctx: SandboxContext, opts: ExecuteOptions): Promise<ShellResult> {
  const home = dirs.home ?? await mkdtemp(join(tmpdir(), 'agentrun-home-'));
  try {
    return await runShell({
      argv: argvFor(req.command, codeFile(req, dirs)), cwd: dirs.workspace,
      env: { HOME: home, TMPDIR: home, ...req.env }, envAllowList: opts.envAllowList,
      timeoutMs: req.limits.timeoutMs, outputMaxBytes: req.limits.outputMaxBytes, signal: ctx.signal, onLine: ctx.onLine,
    });
  } finally {
    if (dirs.home === undefined) await rm(home, { recursive: true, force: true });
  }
}

export async function pushPhase(workspace: SandboxWorkspace, req: SandboxRequest, dirs: PhaseDirs, opts: ExecuteOptions): Promise<SandboxResult> {
  const snap: Snapshot = new Map(JSON.parse(await readFile(join(dirs.state, SNAPSHOT), 'utf8')) as [string, PulledFile][]);
  const { discarded, ...outcome } = JSON.parse(await readFile(join(dirs.exchange, OUTCOME), 'utf8')) as ExecOutcome;
  if (discarded) return { ...outcome, changedFiles: [], skippedFiles: [{ path: '.', reason: `nothing synced: ${outcome.limit ?? 'stopped'}` }] };
  const synced = await workspace.push(req.workspacePrefix, dirs.workspace, snap, opts.maxFileBytes);
  return { ...outcome, changedFiles: synced.changed, skippedFiles: synced.skipped };
}

/** All three phases in this process, in a scratch directory removed afterwards. */
export async function executeInWorkspace(
  workspace: SandboxWorkspace, req: SandboxRequest, ctx: SandboxContext, opts: ExecuteOptions,
): Promise<SandboxResult> {
  ctx.signal.throwIfAborted();
  const started = performance.now();
  const scratch = await mkdtemp(join(tmpdir(), 'agentrun-exec-'));
  try {
    const dirs: Required<PhaseDirs> = {
      workspace: join(scratch, 'workspace'), state: join(scratch, 'state'), exchange: join(scratch, 'exchange'), home: join(scratch, 'home'),
    };
    for (const d of Object.values(dirs)) await mkdir(d, { mode: 0o700 });
    await pullPhase(workspace, req, dirs, opts);
    await execPhase(req, dirs, ctx, opts);
    // A step cancelled while its command ran pushes nothing (execPhase throws); one cancelled
    // after it finished still pushes, so the files match what the command did.
    const result = await pushPhase(workspace, req, dirs, opts);
    return { ...result, durationMs: Math.round(performance.now() - started) };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
