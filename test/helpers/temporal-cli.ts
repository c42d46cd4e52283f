/** The `temporal` CLI as an operator runs it against the stack's server: output on success, an assertion naming stderr otherwise. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

export function temporalCli(env: Record<string, string>): (...args: string[]) => string {
  return (...args) => {
    const r = spawnSync(env.TEMPORAL_CLI!, [...args, '--address', env.TEMPORAL_ADDRESS!, '--namespace', 'default'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `temporal ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
}
