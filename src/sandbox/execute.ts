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
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runShell } from '../activities/tools/shell.ts';
import { pull, push, type PulledFile, type Snapshot, type SyncTarget } from './sync.ts';
import { argvFor, CODE_EXTENSIONS, type SandboxContext, type SandboxRequest, type SandboxResult } from './types.ts';

export interface ExecuteOptions {
  maxWorkspaceBytes: number;
  maxFileBytes: number;
  /** Variables copied from this process's environment into the command's. */
  envAllowList?: readonly string[];
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
}

const SNAPSHOT = 'snapshot.json';
const OUTCOME = 'outcome.json';

function codeFile(req: SandboxRequest, dirs: PhaseDirs): string {
  return 'code' in req.command ? join(dirs.exchange, `step${CODE_EXTENSIONS[req.command.code.language]}`) : '';
}

export async function pullPhase(target: SyncTarget, req: SandboxRequest, dirs: PhaseDirs, opts: ExecuteOptions): Promise<void> {
  const snap = await pull({ ...target, prefix: req.workspacePrefix }, dirs.workspace, opts.maxWorkspaceBytes);
  await writeFile(join(dirs.state, SNAPSHOT), JSON.stringify([...snap]));
  if ('code' in req.command) await writeFile(codeFile(req, dirs), req.command.code.source, { mode: 0o644 });
}

export async function execPhase(req: SandboxRequest, dirs: PhaseDirs, ctx: SandboxContext, opts: ExecuteOptions): Promise<ExecOutcome> {
  ctx.signal.throwIfAborted();
  const home = dirs.home ?? await mkdtemp(join(tmpdir(), 'agentrun-home-'));
  let r;
  try {
    r = await runShell({
      argv: argvFor(req.command, codeFile(req, dirs)), cwd: dirs.workspace,
      env: { HOME: home, TMPDIR: home, ...req.env }, envAllowList: opts.envAllowList,
      timeoutMs: req.limits.timeoutMs, outputMaxBytes: req.limits.outputMaxBytes, signal: ctx.signal, onLine: ctx.onLine,
    });
  } finally {
    if (dirs.home === undefined) await rm(home, { recursive: true, force: true });
  }
  if (r.cancelled) throw ctx.signal.reason ?? new Error('cancelled');
  const outcome: ExecOutcome = {
    exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, spawnError: r.spawnError,
    stdout: r.stdout, stderr: r.stderr, truncated: r.truncated, durationMs: r.durationMs,
  };
  await writeFile(join(dirs.exchange, OUTCOME), JSON.stringify(outcome));
  return outcome;
}

export async function pushPhase(target: SyncTarget, req: SandboxRequest, dirs: PhaseDirs, opts: ExecuteOptions): Promise<SandboxResult> {
  const snap: Snapshot = new Map(JSON.parse(await readFile(join(dirs.state, SNAPSHOT), 'utf8')) as [string, PulledFile][]);
  const outcome = JSON.parse(await readFile(join(dirs.exchange, OUTCOME), 'utf8')) as ExecOutcome;
  const synced = await push({ ...target, prefix: req.workspacePrefix }, dirs.workspace, snap, opts.maxFileBytes);
  return { ...outcome, changedFiles: synced.changed, skippedFiles: synced.skipped };
}

/** All three phases in this process, in a scratch directory removed afterwards. */
export async function executeInWorkspace(
  target: SyncTarget, req: SandboxRequest, ctx: SandboxContext, opts: ExecuteOptions,
): Promise<SandboxResult> {
  ctx.signal.throwIfAborted();
  const started = performance.now();
  const scratch = await mkdtemp(join(tmpdir(), 'agentrun-exec-'));
  try {
    const dirs: Required<PhaseDirs> = {
      workspace: join(scratch, 'workspace'), state: join(scratch, 'state'), exchange: join(scratch, 'exchange'), home: join(scratch, 'home'),
    };
    for (const d of Object.values(dirs)) await mkdir(d, { mode: 0o700 });
    await pullPhase(target, req, dirs, opts);
    await execPhase(req, dirs, ctx, opts);
    // A step cancelled while its command ran pushes nothing (execPhase throws); one cancelled
    // after it finished still pushes, so the files match what the command did.
    const result = await pushPhase(target, req, dirs, opts);
    return { ...result, durationMs: Math.round(performance.now() - started) };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
