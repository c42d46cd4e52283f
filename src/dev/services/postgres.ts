/**
 * PostgreSQL (apt `postgresql`): a cluster under <data>/postgres initialised with a
 * generated superuser password, listening on loopback TCP only (no Unix socket); run
 * as the `postgres` user when the stack manager is root. The agentrun database itself
 * is prepared by database.ts.
 */
import { chownSync, existsSync, mkdirSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DATABASE, HOST, type StackContext } from '../context.ts';
import { apt, isRoot, log, run, StackError, waitFor, which } from '../proc.ts';
import { secrets } from '../secrets.ts';
import { logFile, type Service } from './service.ts';

export function pgBinDir(): string | undefined {
  const initdb = which('initdb');
  const candidates = initdb ? [dirname(realpathSync(initdb))] : [];
  if (existsSync('/usr/lib/postgresql')) {
    for (const v of readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  }
  return candidates.find((c) => ['initdb', 'pg_ctl', 'pg_isready'].every((b) => existsSync(join(c, b))));
}

function install(): void {
  if (pgBinDir()) return;
  log('installing postgresql from apt');
  apt(['postgresql'], 'PostgreSQL');
  if (!pgBinDir()) throw new StackError('PostgreSQL binaries (initdb, pg_ctl) not found after apt-get install postgresql');
}

/** As root, PostgreSQL must run as an unprivileged user: the apt package's `postgres`. */
function asPg(cmd: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}
function uidOf(user: string): number { return Number(run('id', ['-u', user], { quiet: true }).trim()); }
function gidOf(user: string): number { return Number(run('id', ['-g', user], { quiet: true }).trim()); }

function ready(ctx: StackContext, bin: string): boolean {
  try {
    run(join(bin, 'pg_isready'), ['-h', HOST, '-p', String(ctx.ports.postgres), '-q'], { quiet: true });
    return true;
  } catch {
    return false;
  }
}

/** Superuser URL of a database on the local server. */
export function adminUrl(ctx: StackContext, database: string): string {
  return `postgres://postgres:${encodeURIComponent(secrets(ctx).pgPassword)}@${HOST}:${ctx.ports.postgres}/${database}`;
}

function initCluster(ctx: StackContext, bin: string, dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pwfile = join(ctx.paths.state, 'pgpass.tmp');
  writeFileSync(pwfile, `${secrets(ctx).pgPassword}\n`, { mode: 0o600 });
  if (isRoot()) { chownSync(dir, uidOf('postgres'), gidOf('postgres')); chownSync(pwfile, uidOf('postgres'), gidOf('postgres')); }
  try {
    const [c, a] = asPg(join(bin, 'initdb'), ['-D', dir, '-U', 'postgres', '--auth-host=scram-sha-256', '--auth-local=trust', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-instructions']);
    run(c, a, { quiet: true, what: 'initdb' });
  } finally {
    rmSync(pwfile, { force: true });
  }
}

async function start(ctx: StackContext): Promise<void> {
  const bin = pgBinDir();
  if (!bin) throw new StackError('PostgreSQL is not installed: run ./dev install');
  const dir = join(ctx.paths.data, 'postgres');
  if (ready(ctx, bin) && existsSync(join(dir, 'postmaster.pid'))) return;
  if (!existsSync(join(dir, 'PG_VERSION'))) initCluster(ctx, bin, dir);
  const pgLog = logFile(ctx, 'postgres');
  writeFileSync(pgLog, '', { flag: 'a' });
  if (isRoot()) chownSync(pgLog, uidOf('postgres'), gidOf('postgres'));
  const [c, a] = asPg(join(bin, 'pg_ctl'), ['start', '-D', dir, '-l', pgLog, '-w', '-t', '60', '-o',
    `-c listen_addresses=${HOST} -c port=${ctx.ports.postgres} -c unix_socket_directories=''`]);
  run(c, a, { quiet: true, what: `pg_ctl start (see ${pgLog})` });
  await waitFor('PostgreSQL', 30_000, () => ready(ctx, bin), `see ${pgLog}`);
}

async function stop(ctx: StackContext): Promise<boolean> {
  const bin = pgBinDir();
  const dir = join(ctx.paths.data, 'postgres');
  if (!bin || !existsSync(join(dir, 'postmaster.pid'))) return false;
  const [c, a] = asPg(join(bin, 'pg_ctl'), ['stop', '-D', dir, '-m', 'fast', '-w']);
  try { run(c, a, { quiet: true }); } catch { /* already stopped */ }
  return true;
}

export const postgres: Service = {
  name: 'postgres',
  install,
  start,
  healthy: async (ctx) => { const b = pgBinDir(); return b ? ready(ctx, b) : false; },
  stop,
  where: (ctx) => `postgres://postgres@${HOST}:${ctx.ports.postgres}/${DATABASE}`,
};
