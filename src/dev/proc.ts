/** Small process helpers for the stack manager: run to completion, start detached, stop by pid file. */
import { spawn, spawnSync } from 'node:child_process';
import type { SpawnOptions } from 'node:child_process';
import { existsSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
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

/** A TCP port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A port from the environment variable `name`, or `def`; anything else is a StackError. */
export function envPort(name: string, def: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? def : Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new StackError(`${name}=${raw} is not a port number`);
  return n;
}
