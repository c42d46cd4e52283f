/** Starts an entry point and waits for it to exit: for tests of refusals to start. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { childEnv, ROOT } from './stack.ts';

/** `wrap` is a command prefix the entry point runs under (e.g. `unshare …`), which must exec its arguments. */
export function boot(script: 'worker' | 'api', env: Record<string, string>, wrap: string[] = []): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const argv = [...wrap, process.execPath, join(ROOT, 'src', script, 'main.ts')];
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { ...childEnv(), API_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stderr, stdout }); });
  });
}

export function assertRefused(r: { code: number | null; stderr: string }, component: string, pattern: RegExp): void {
  assert.equal(r.code, 1, `exit code; stderr: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `exactly one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0]!, new RegExp(`^agentrun ${component}: cannot start: `));
  assert.match(lines[0]!, pattern);
}

