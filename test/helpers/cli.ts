/**
 * The `agentrun` CLI (bin/agentrun.js) as a subprocess for the CLI tests: plain pipes, or a
 * pseudo-terminal through util-linux `script` for what only a terminal gets (colours, the
 * spinner, questions, Ctrl-C as a key). NDJSON output read back as events.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintToken } from './auth.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue } from './stack.ts';
import type { Clients, Proc } from './stack.ts';
import { freeLoopbackPort } from '../../src/infra/free-port.ts';

const BIN = fileURLToPath(new URL('../../bin/agentrun.js', import.meta.url));

export interface CliDone { code: number | null; stdout: string; stderr: string }
export interface Cli { done: Promise<CliDone>; write(text: string): void; output(): string; stdout(): string }
export interface CliEvent { id: string | null; event: string; data: Record<string, unknown> }

/** `agentrun …args` with `env` over the test's own (no colour settings); `tty` runs it in a pseudo-terminal 200 columns wide. */
export function runCli(args: string[], env: Record<string, string>, opts: { tty?: boolean } = {}): Cli {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  delete childEnv.NO_COLOR;
  delete childEnv.FORCE_COLOR;
  // Node finds no colours in a terminal when CI is set (CI=true ./dev test): a person's terminal has no CI.
  if (opts.tty) delete childEnv.CI;
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // `exec`: the shell script(1) starts (dash where SHELL is unset, as on CI) would stay in the
  // terminal's foreground group, take each Ctrl-C too and, once the CLI exited, die of it (130).
  const child = opts.tty
    ? spawn('script', ['-qfec', `stty cols 200; exec ${quoted}`, '/dev/null'], { env: { ...childEnv, TERM: 'xterm-256color' } })
    : spawn(process.execPath, [BIN, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<CliDone>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return { done, write: (text) => child.stdin!.write(text), output: () => stdout + stderr, stdout: () => stdout };
}

/** The events of `--json` output (one per line; a line still being written is left out). */
export const ndjson = (out: string): CliEvent[] => out.split('\n').slice(0, -1).filter(Boolean).map((l) => JSON.parse(l) as CliEvent);

/** The run's stdout lines among the events. */
export const stdoutLines = (events: CliEvent[]): string[] =>
  events.filter((e) => e.event === 'log' && typeof e.data.text === 'string' && e.data.stream === 'stdout').map((e) => e.data.text as string);

/**
 * What a CLI test file drives the CLI against: a worker and an API of its own (on a fixed
 * loopback port, so an API restarted mid-follow comes back where the CLI reconnects), a
 * user with `credits` and their token, and a home directory for config files and downloads.
 */
export interface CliStack {
  readonly c: Clients;
  readonly env: Record<string, string>;
  readonly user: string;
  readonly token: string;
  readonly home: string;
  /** The API process now (restartApi replaces it). */
  api: Proc & { url: string };
  /** `agentrun …args` as the user (`opts.env` over the defaults: URL, token, no config file); `tty` in a pseudo-terminal. */
  cli(args: string[], opts?: { env?: Record<string, string>; tty?: boolean }): Cli;
  /** SIGKILLs the API and starts it again on the same port; resolves with the new one. */
  restartApi(): Promise<Proc & { url: string }>;
  close(): Promise<void>;
}

/** A CliStack on task queue `name`, with `env` over the stack's and a user holding `credits`. */
export async function cliStack(name: string, env: Record<string, string> = {}, credits = 100_000): Promise<CliStack> {
  const c = await connectClients();
  const user = await newUser(c, credits, name);
  const stackVars = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue(name), SSE_HEARTBEAT_MS: '300', API_PORT: String(await freeLoopbackPort()), ...env };
  const [worker, api] = await Promise.all([startWorker(stackVars), startApi(stackVars)]);
  const token = await mintToken(user);
  const home = mkdtempSync(join(tmpdir(), `agentrun-${name}-`));
  const s: CliStack = {
    c, env: stackVars, user, token, home, api,
    cli: (args, opts = {}) => runCli(args, { AGENTRUN_URL: s.api.url, AGENTRUN_TOKEN: token, AGENTRUN_CONFIG: join(home, 'none.json'), ...opts.env }, { tty: opts.tty }),
    async restartApi() {
      await stop(s.api, 'SIGKILL');
      const restarted = await startApi(stackVars);
      assert.equal(restarted.url, s.api.url, 'the same port');
      s.api = restarted;
      return restarted;
    },
    async close() {
      await Promise.all([stop(s.api), stop(worker)]);
      await c.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
  return s;
}
