/**
 * src/dev: the local stack manager behind `./dev`. It installs, starts, checks and
 * stops the services in services/ (one module each, behind the Service interface),
 * keeps their generated secrets (secrets.ts), writes the env file (env-file.ts) and
 * runs the demo (demo.ts). This file is its entry point: it reads the environment
 * once (context.ts) and runs `./dev <command>`:
 *
 *   install   install (once, cached in .tools/) everything the stack needs
 *   up        start every service on loopback (Temporal, Redis, PostgreSQL, PostgREST and
 *             its gateway, MinIO), wait until healthy; with the test Kubernetes cluster too
 *             for `--kube`, SANDBOX=kubernetes, or `./dev test` (`install --kube` likewise)
 *   down      stop them (and the demo's API and worker), the cluster too if it runs (data stays in .data/)
 *   status    say what runs where
 *   migrate   apply database migrations (DATABASE_URL, or the local stack's database)
 *   backup    save the running stack's data into a new directory, Temporal first (backup/)
 *   restore   put a backup back onto the stack (`--replace` when it already holds runs)
 *   env       print the environment that points processes at the stack
 *   demo      install + up (no cluster unless SANDBOX=kubernetes), start a worker and the API (left
 *             running for the web page and the CLI), run a demo agent run and stream its log
 *   test      install + up with the cluster, then the test suite (npm test); `test --deploy`: build the images, then
 *             the deployment suite (images, pod simulator with the runner image, compose, guide); `test --reliability`:
 *             the fault suite (a mixed workload under chaos, on a stack of its own)
 *   image     build the app and runner images (Dockerfile) without a daemon, save them under .data/images
 *   compose   docker-compose.yml under podman-compose with locally built service images (compose.ts)
 *   bench     agentrun against its baselines, each figure with its baseline (--quick, --only P3,P5, sizes: README Performance)
 *   config-table  print the configuration table for README.md
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { configTable } from '../shared/config.ts';
import { migrate } from '../store/migrate.ts';
import { PgStore } from '../store/pg.ts';
import { DATABASE, loadStackContext, ROOT, type StackContext } from './context.ts';
import { demo, demoApi, stopDemo } from './demo.ts';
import { stackEnv, writeEnvFile } from './env-file.ts';
import { composeCmd } from './compose.ts';
import { bench } from './bench/index.ts';
import { buildComposeImages } from './compose-images.ts';
import { appImageStale, buildImages } from './image.ts';
import { apt, log, StackError, which } from './proc.ts';
import { backup, restore } from './backup/index.ts';
import { secrets } from './secrets.ts';
import { KUBE, kubeStarted, servicesOf } from './services/index.ts';
import { adminUrl } from './services/postgres.ts';

const say = (msg: string) => process.stdout.write(`${msg}\n`);

function ensureDirs(ctx: StackContext): void {
  const { tools, data, state, logs } = ctx.paths;
  for (const d of [tools, data, state, logs]) mkdirSync(d, { recursive: true });
}

/**
 * Whether a command brings up the test Kubernetes cluster: `./dev test` always (its suite has
 * the cluster's tests), `--kube`, or SANDBOX=kubernetes (the worker's steps run there).
 * Otherwise its Go-built control plane and tools are neither built nor started.
 */
const wantsKube = (ctx: StackContext, args: string[]) => args.includes('--kube') || ctx.env.SANDBOX === 'kubernetes';

const seconds = (since: number) => `${Math.round((Date.now() - since) / 1000)} s`;

/**
 * Installs what is missing: the long downloads and builds (a service's install that returns a
 * promise: Temporal from PyPI, MinIO and the cluster from Go modules) side by side with the
 * apt packages, which go one at a time (dpkg's lock). Each install that took time says so.
 */
async function install(ctx: StackContext, kube: boolean): Promise<void> {
  ensureDirs(ctx);
  const timed = (name: string, fn: () => void | Promise<void>) => async () => {
    const t = Date.now();
    await fn();
    if (Date.now() - t > 3000) log(`${name} installed in ${seconds(t)}`);
  };
  const steps = servicesOf(kube).map((s) => ({ name: s.name, fn: () => s.install?.(ctx) }));
  // SANDBOX=local (the default) runs every shell and code step in a bubblewrap jail.
  steps.push({ name: 'bubblewrap', fn: () => { if (!which('bwrap')) apt(['bubblewrap'], 'bubblewrap (the jail of SANDBOX=local steps)'); } });
  if (kube) steps.push({ name: 'docker-compose', fn: () => { if (!which('docker-compose')) apt(['docker-compose'], 'docker-compose (./dev test validates docker-compose.yml with it)'); } });
  // The web page's tests drive Debian's Chromium with playwright-core (no browser download).
  if (kube) steps.push({ name: 'chromium', fn: () => { if (!which('chromium')) apt(['chromium'], 'chromium (./dev test runs the web page in it)'); } });
  // A synchronous install runs to its end before the next starts; the asynchronous ones it started keep going meanwhile.
  const running: Promise<void>[] = [];
  for (const step of steps) running.push(timed(step.name, step.fn)());
  const results = await Promise.allSettled(running);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Every service installed, started and healthy, and the env file written. */
async function startStack(ctx: StackContext, kube: boolean): Promise<void> {
  await install(ctx, kube);
  secrets(ctx);
  for (const s of servicesOf(kube)) {
    await s.start(ctx);
    say(`  ${s.name.padEnd(9)} up   ${s.where(ctx)}`);
  }
  if (!kube) say(`  ${KUBE.name.padEnd(9)} ${(await kubeUp(ctx)) ? 'up   (already running)' : `off  ${KUBE_OFF}`}`);
  await writeEnvFile(ctx);
  say(`  env file  ${ctx.paths.envFile}`);
}

async function up(ctx: StackContext, kube: boolean): Promise<void> {
  await startStack(ctx, kube);
  await topUpLocalUser(ctx);
}

/** `./dev restore DIR [--replace]`. */
async function restoreCmd(ctx: StackContext, args: string[]): Promise<void> {
  const dir = args.find((a) => !a.startsWith('--'));
  if (!dir) throw new StackError('usage: ./dev restore DIR [--replace]');
  await restore(ctx, dir, { replace: args.includes('--replace'), startStack: () => startStack(ctx, wantsKube(ctx, args)) }, say);
}

/** The local user (DEFAULT_USER_ID) gets credits to run with: topped up to LOCAL_CREDITS on every up. */
const LOCAL_CREDITS = 1000;
async function topUpLocalUser(ctx: StackContext): Promise<void> {
  const store = new PgStore({ databaseUrl: adminUrl(ctx, DATABASE) });
  try {
    const user = ctx.env.DEFAULT_USER_ID || 'local';
    const { available } = await store.balance(user);
    if (available < LOCAL_CREDITS) await store.grant(user, LOCAL_CREDITS - available, `dev-topup:${user}:${Date.now()}`, 'local stack top-up');
    say(`  credits   user ${user}: ${Math.max(available, LOCAL_CREDITS)} available`);
  } finally {
    await store.close();
  }
}

async function migrateCmd(ctx: StackContext): Promise<void> {
  const url = ctx.env.DATABASE_URL || adminUrl(ctx, DATABASE);
  const applied = await migrate({ databaseUrl: url, log: (l) => say(l) });
  say(applied.length ? `applied: ${applied.join(', ')}` : 'nothing to apply: the database is up to date');
}

/** What status and up print for the cluster when it is not running. */
const KUBE_OFF = '(not needed for the demo; ./dev up --kube, ./dev test or SANDBOX=kubernetes start it)';

const kubeUp = (ctx: StackContext) => KUBE.healthy(ctx).catch(() => false);

async function down(ctx: StackContext): Promise<void> {
  ensureDirs(ctx);
  for (const { part, stopped } of await stopDemo(ctx)) if (stopped) say(`  demo ${part.padEnd(4)} stopped`);
  for (const s of [...servicesOf(true)].reverse()) {
    const stopped = await s.stop(ctx);
    say(`  ${s.name.padEnd(9)} ${stopped ? 'stopped' : 'not running'}`);
  }
}

/** Every service's state; true when all are up (the cluster counts only when it was started: its pid files). */
async function status(ctx: StackContext): Promise<boolean> {
  ensureDirs(ctx);
  let all = true;
  for (const s of servicesOf(true)) {
    const ok = await s.healthy(ctx).catch(() => false);
    if (s === KUBE && !ok && !kubeStarted(ctx)) {
      say(`  ${s.name.padEnd(9)} off  ${KUBE_OFF}`);
      continue;
    }
    all &&= ok;
    say(`  ${s.name.padEnd(9)} ${ok ? 'up  ' : 'down'} ${s.where(ctx)}`);
  }
  const api = demoApi(ctx);
  if (api) say(`  demo      up   the API ${api} (the web page at /) and a worker, left by ./dev demo`);
  return all;
}

/** The deployment suite (`./dev test --deploy`): what needs the images, run with them required. */
const DEPLOY_TESTS = ['test/e2e/images.test.ts', 'test/integration/kubernetes.test.ts', 'test/e2e/compose.test.ts', 'test/e2e/deploy-guide.test.ts', 'test/integration/alerts.test.ts', 'test/integration/manifests.test.ts'];

/** The fault suite (`./dev test --reliability`): on a stack of its own, so only the tools are needed here. */
const RELIABILITY_TEST = 'test/reliability/fault-suite.ts';

async function test(ctx: StackContext, args: string[]): Promise<number> {
  if (args[0] === '--reliability') {
    await install(ctx, ctx.env.RELIABILITY_SANDBOX === 'kubernetes'); // a cluster of its own only then
    const child = spawn(process.execPath, ['--test', '--test-timeout=2400000', RELIABILITY_TEST], { cwd: ROOT, env: ctx.env, stdio: 'inherit' });
    return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  }
  await up(ctx, true);
  const env = { ...ctx.env, ...(await stackEnv(ctx)) };
  const deploy = args[0] === '--deploy';
  // Built images are tested by the compose and image tests: images of older sources would test old code.
  const stale = !deploy && appImageStale(ctx);
  if (stale) log('the images were built from other sources: rebuilding them for the tests that run them');
  if (deploy || stale) {
    buildImages(ctx);
    buildComposeImages(ctx, false);
  }
  // --deploy: build the images, then the suite that runs them, where a missing image fails instead of skipping.
  const [cmd, argv] = deploy
    ? [process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=1800000', ...DEPLOY_TESTS]]
    : ['npm', ['test', ...(args.length ? ['--', ...args] : [])]];
  const child = spawn(cmd, argv, { cwd: ROOT, env: deploy ? { ...env, AGENTRUN_REQUIRE_IMAGES: '1' } : env, stdio: 'inherit' });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  const ctx = loadStackContext(process.env);
  switch (cmd) {
    case 'install': await install(ctx, wantsKube(ctx, rest)); say('installed'); return 0;
    case 'up': await up(ctx, wantsKube(ctx, rest)); return 0;
    case 'down': await down(ctx); return 0;
    case 'status': return (await status(ctx)) ? 0 : 1;
    case 'migrate': await migrateCmd(ctx); return 0;
    case 'backup':
      if (!rest[0]) throw new StackError('usage: ./dev backup DIR');
      await backup(ctx, rest[0], say);
      return 0;
    case 'restore': await restoreCmd(ctx, rest); return 0;
    case 'env': for (const [k, v] of Object.entries(await stackEnv(ctx))) say(`export ${k}='${v}'`); return 0;
    case 'demo': await up(ctx, wantsKube(ctx, rest)); await demo(ctx); return 0;
    case 'test': return test(ctx, rest);
    case 'image': buildImages(ctx); return 0;
    case 'compose': return composeCmd(ctx, rest, say);
    case 'bench': await up(ctx, wantsKube(ctx, rest)); await bench(ctx, rest.filter((a) => a !== '--kube'), say); return 0;
    case 'config-table': say(configTable()); return 0;
    default:
      say('usage: ./dev install|up|down|status|migrate|backup|restore|env|demo|test|bench|image|compose|config-table (install, up, demo, bench: --kube adds the test cluster)');
      return cmd ? 2 : 0;
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  const e = err as Error;
  process.stderr.write(`agentrun stack: ${e.name === 'StackError' ? e.message : (e.stack ?? String(e))}\n`);
  process.exit(1);
});
