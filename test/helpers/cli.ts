/**
 * The `agentrun` CLI (bin/agentrun.js) as a subprocess for the CLI tests: plain pipes, or a
 * pseudo-terminal through util-linux `script` for what only a terminal gets (colours, the
 * spinner, questions, Ctrl-C as a key). NDJSON output read back as events.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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
