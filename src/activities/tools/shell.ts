/**
 * The local `shell` tool: one child process, argv only (no shell parses
 * untrusted text), in a fresh temporary directory, with an environment
 * allow-list, a wall-clock limit, an output cap, and cancellation. Output lines
 * are handed to `onLine` as they come.
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
}

export interface ShellResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  cancelled: boolean;
  /** The command could not be started (not found, not executable). */
  spawnError?: string;
  stdout: string;
  stderr: string;
  truncated: boolean;
  durationMs: number;
}

const DEFAULT_ENV_ALLOW = ['PATH', 'LANG', 'LC_ALL', 'TZ'];

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
  const cwd = await mkdtemp(join(tmpdir(), 'agentrun-shell-'));
  const env: Record<string, string> = { HOME: cwd, TMPDIR: cwd };
  for (const name of opts.envAllowList ?? DEFAULT_ENV_ALLOW) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  const out = new CappedBuffer(opts.outputMaxBytes);
  const err = new CappedBuffer(opts.outputMaxBytes);
  let timedOut = false;
  let cancelled = false;
  try {
    return await new Promise<ShellResult>((resolve) => {
      const child = spawn(opts.argv[0]!, opts.argv.slice(1), {
        cwd, env, shell: false, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
      });
      // Kill the whole process group, so grandchildren do not outlive the step.
      const killGroup = () => {
        if (child.pid === undefined) return;
        try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
      };
      const timer = setTimeout(() => { timedOut = true; killGroup(); }, opts.timeoutMs);
      const onAbort = () => { cancelled = true; killGroup(); };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (opts.signal?.aborted) onAbort();

      const lineSplitter = (stream: 'stdout' | 'stderr') => {
        let pending = '';
        const emit = (line: string) => opts.onLine?.(stream, line);
        return {
          data: (chunk: Buffer) => {
            (stream === 'stdout' ? out : err).push(chunk);
            if (!opts.onLine) return;
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
      child.on('error', (e: NodeJS.ErrnoException) => { spawnError = `${e.code ?? 'error'}: ${e.message}`; });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        splitOut.flush();
        splitErr.flush();
        opts.signal?.removeEventListener('abort', onAbort);
        resolve({
          exitCode: spawnError ? 127 : code,
          signal,
          timedOut,
          cancelled,
          spawnError,
          stdout: out.text(),
          stderr: err.text(),
          truncated: out.truncated || err.truncated,
          durationMs: Math.round(performance.now() - started),
        });
      });
    });
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}
