/**
 * Runs one command as a child process: argv only (no shell parses untrusted
 * text), in a given or a fresh temporary directory, with an environment
 * allow-list, a wall-clock limit, an output cap, and cancellation; the whole
 * process group goes when it ends. Output lines are handed to `onLine` as they
 * come. Every execution (jailed or not, local or in a Job's runner) ends here.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ShellOptions {
  argv: readonly string[];
  timeoutMs: number;
  /** Cap on captured bytes per stream; the rest is counted and dropped. */
  outputMaxBytes: number;
  signal?: AbortSignal;
  /** Variables copied from the worker's environment; everything else is withheld. */
  envAllowList?: readonly string[];
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
  /** Working directory (kept afterwards); unset means a fresh temporary directory, removed afterwards. */
  cwd?: string;
  /** Variables set explicitly for the command (after the allow-list). */
  env?: Record<string, string>;
  /** Give the process exactly `env`: no HOME/TMPDIR defaults, nothing from the allow-list (a jail sets its own). */
  exactEnv?: boolean;
  /** Host user and group to run the process as (needs root). */
  runAs?: { uid: number; gid: number };
  /** Aborted when a limit is exceeded: the process tree is killed and `stopped` carries the abort reason. */
  stop?: AbortSignal;
}

export interface ShellResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  cancelled: boolean;
  /** Why the command was stopped by `stop` (a limit it exceeded). */
  stopped?: string;
  /** The command could not be started (not found, not executable). */
  spawnError?: string;
  stdout: string;
  stderr: string;
  truncated: boolean;
  durationMs: number;
}

const DEFAULT_ENV_ALLOW = ['PATH', 'LANG', 'LC_ALL', 'TZ'];
/** How long output pipes may stay open after the command exited. */
const CLOSE_GRACE_MS = 2000;

class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  private readonly max: number;
  constructor(max: number) { this.max = max; }
  push(chunk: Buffer): void {
    const room = this.max - this.size;
    if (room <= 0) { this.truncated = true; return; }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
  }
  text(): string { return Buffer.concat(this.chunks).toString('utf8'); }
}

export async function runShell(opts: ShellOptions): Promise<ShellResult> {
  const started = performance.now();
  const ownDir = opts.cwd === undefined;
  const cwd = opts.cwd ?? await mkdtemp(join(tmpdir(), 'agentrun-shell-'));
  const env: Record<string, string> = opts.exactEnv ? {} : { HOME: cwd, TMPDIR: cwd };
  for (const name of opts.exactEnv ? [] : opts.envAllowList ?? DEFAULT_ENV_ALLOW) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, opts.env);
  const out = new CappedBuffer(opts.outputMaxBytes);
  const err = new CappedBuffer(opts.outputMaxBytes);
  let timedOut = false;
  let cancelled = false;
  let stopped: string | undefined;
  try {
    return await new Promise<ShellResult>((resolve) => {
      let child;
      try {
        child = spawn(opts.argv[0]!, opts.argv.slice(1), {
          cwd, env, shell: false, detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...opts.runAs,
        });
      } catch (e) {
        // Arguments no process can receive (a NUL byte, say): the command could not start.
        const code = (e as NodeJS.ErrnoException).code ?? 'error';
        resolve({
          exitCode: 127, signal: null, timedOut: false, cancelled: false, spawnError: `${code}: ${(e as Error).message}`,
          stdout: '', stderr: '', truncated: false, durationMs: Math.round(performance.now() - started),
        });
        return;
      }
      // Kill the whole process group, so grandchildren do not outlive the step.
      const killGroup = () => {
        if (child.pid === undefined) return;
        try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
      };
      const timer = setTimeout(() => { timedOut = true; killGroup(); }, opts.timeoutMs);
      const onAbort = () => { cancelled = true; killGroup(); };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (opts.signal?.aborted) onAbort();
      const onStop = () => { stopped ??= String(opts.stop?.reason ?? 'stopped'); killGroup(); };
      opts.stop?.addEventListener('abort', onStop, { once: true });
      if (opts.stop?.aborted) onStop();

      const lineSplitter = (stream: 'stdout' | 'stderr') => {
        let pending = '';
        const emit = (line: string) => opts.onLine?.(stream, line);
        return {
          data: (chunk: Buffer) => {
            const buf = stream === 'stdout' ? out : err;
            // The live log stops where the capture stops: output past the cap goes nowhere.
            const full = buf.truncated;
            buf.push(chunk);
            if (!opts.onLine || full) return;
            pending += chunk.toString('utf8');
            let nl: number;
            while ((nl = pending.indexOf('\n')) >= 0) {
              emit(pending.slice(0, nl));
              pending = pending.slice(nl + 1);
            }
            if (pending.length > 8192) { emit(pending); pending = ''; }
          },
          flush: () => { if (pending !== '') emit(pending); pending = ''; },
        };
      };
      const splitOut = lineSplitter('stdout');
      const splitErr = lineSplitter('stderr');
      child.stdout.on('data', splitOut.data);
      child.stderr.on('data', splitErr.data);

      let spawnError: string | undefined;
      let closeGrace: NodeJS.Timeout | undefined;
      child.on('error', (e: NodeJS.ErrnoException) => { spawnError = `${e.code ?? 'error'}: ${e.message}`; });
      child.on('exit', () => {
        // Nothing the command started outlives it: background processes left in its group go too.
        killGroup();
        // A descendant that left the group (setsid) may still hold the pipes; stop waiting for it.
        closeGrace = setTimeout(() => { child.stdout.destroy(); child.stderr.destroy(); }, CLOSE_GRACE_MS);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        clearTimeout(closeGrace);
        splitOut.flush();
        splitErr.flush();
        opts.signal?.removeEventListener('abort', onAbort);
        opts.stop?.removeEventListener('abort', onStop);
        resolve({
          exitCode: spawnError ? 127 : code,
          signal,
          timedOut,
          cancelled,
          stopped,
          spawnError,
          stdout: out.text(),
          stderr: err.text(),
          truncated: out.truncated || err.truncated,
          durationMs: Math.round(performance.now() - started),
        });
      });
    });
  } finally {
    if (ownDir) await rm(cwd, { recursive: true, force: true });
  }
}
