/**
 * A stack of a test's own, for tests that restart, stop or destroy services (backup and
 * restore, the fault suite): its own data directory under the system's temp directory
 * and free loopback ports, driven with the stack manager's own commands.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort } from '../../src/infra/free-port.ts';
import { childEnv, ROOT } from './stack.ts';

const PORT_VARS = [
  'TEMPORAL', 'TEMPORAL_UI', 'TEMPORAL_HTTP', 'TEMPORAL_METRICS', 'REDIS', 'PG', 'POSTGREST', 'POSTGREST_ADMIN', 'GATEWAY', 'MINIO', 'MINIO_CONSOLE', 'API',
  // The cluster's, for `up --kube`.
  'ETCD', 'ETCD_PEER', 'KUBE_APISERVER', 'KUBE_CM', 'KUBE_SCHEDULER', 'KWOK',
];

export interface PrivateStack {
  /** The test's directory: `data/` is the stack's, the rest is the test's. */
  root: string;
  /** AGENTRUN_DATA_DIR and the AGENTRUN_*_PORT variables that make the stack manager use this stack. */
  vars: Record<string, string>;
  /** `./dev <args>` on this stack (the stack manager itself, without ./dev's bootstrap); rejects with its output. */
  dev(...args: string[]): Promise<string>;
  /** The stack's env file (after `up`): what processes need to use it. */
  envFile(): Record<string, string>;
}

export async function privateStack(prefix: string): Promise<PrivateStack> {
  const root = mkdtempSync(join(tmpdir(), `agentrun-${prefix}-`));
  chmodSync(root, 0o755); // PostgreSQL runs as its own user: it must reach its data directory
  const vars: Record<string, string> = { AGENTRUN_DATA_DIR: join(root, 'data') };
  for (const name of PORT_VARS) vars[`AGENTRUN_${name}_PORT`] = String(await freeLoopbackPort());
  const dev = (...args: string[]) => new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'src/dev/stack.ts'), ...args], { env: { ...childEnv(), ...vars }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`./dev ${args.join(' ')} exited ${code}:\n${out}`))));
  });
  const envFile = () => Object.fromEntries(readFileSync(join(vars.AGENTRUN_DATA_DIR!, 'stack', 'env'), 'utf8').split('\n')
    .filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { root, vars, dev, envFile };
}
