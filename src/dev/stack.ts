/**
 * The local stack manager: `./dev <command>`.
 *
 *   install   install (once, cached in .tools/) everything the stack needs
 *   up        start Temporal, Redis, PostgreSQL and MinIO on loopback, wait until healthy
 *   down      stop them (data stays in .data/)
 *   status    say what runs where
 *   migrate   apply database migrations (DATABASE_URL, or the local stack's database)
 *   env       print the environment that points processes at the stack
 *   demo      install + up, start a worker and the API, run a demo agent run and stream its log
 *   test      install + up, then the test suite (npm test)
 *   config-table  print the configuration table for README.md
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { configTable } from '../shared/config.ts';
import { ENV_FILE, LOGS, ROOT } from './paths.ts';
import { freePort, StackError, which } from './proc.ts';
import { adminUrl, apt, DATABASE, ensureDirs, secrets, SERVICES, stackEnv, writeEnvFile } from './services.ts';
import { migrate } from '../store/migrate.ts';
import { PgStore } from '../store/pg.ts';
import { readSse } from './sse-client.ts';
import { openSync } from 'node:fs';

const say = (msg: string) => process.stdout.write(`${msg}\n`);

function install(): void {
  ensureDirs();
  for (const s of SERVICES) s.install();
  // SANDBOX=local (the default) runs every shell and code step in a bubblewrap jail.
  if (!which('bwrap')) apt(['bubblewrap'], 'bubblewrap (the jail of SANDBOX=local steps)');
}

async function up(): Promise<void> {
  install();
  secrets();
  for (const s of SERVICES) {
    await s.up();
    say(`  ${s.name.padEnd(9)} up   ${s.where()}`);
  }
  await writeEnvFile(ENV_FILE);
  say(`  env file  ${ENV_FILE}`);
  await topUpLocalUser();
}

/** The local user (DEFAULT_USER_ID) gets credits to run with: topped up to LOCAL_CREDITS on every up. */
const LOCAL_CREDITS = 1000;
async function topUpLocalUser(): Promise<void> {
  const store = new PgStore({ databaseUrl: adminUrl(DATABASE) });
  try {
    const user = process.env.DEFAULT_USER_ID || 'local';
    const { available } = await store.balance(user);
    if (available < LOCAL_CREDITS) await store.grant(user, LOCAL_CREDITS - available, `dev-topup:${user}:${Date.now()}`, 'local stack top-up');
    say(`  credits   user ${user}: ${Math.max(available, LOCAL_CREDITS)} available`);
  } finally {
    await store.close();
  }
}

async function migrateCmd(): Promise<void> {
  const url = process.env.DATABASE_URL || adminUrl(DATABASE);
  const applied = await migrate({ databaseUrl: url, log: (l) => say(l) });
  say(applied.length ? `applied: ${applied.join(', ')}` : 'nothing to apply: the database is up to date');
}

async function down(): Promise<void> {
  ensureDirs();
  for (const s of [...SERVICES].reverse()) {
    const stopped = await s.down();
    say(`  ${s.name.padEnd(9)} ${stopped ? 'stopped' : 'not running'}`);
  }
}

async function status(): Promise<boolean> {
  ensureDirs();
  let all = true;
  for (const s of SERVICES) {
    const ok = await s.healthy();
    all &&= ok;
    say(`  ${s.name.padEnd(9)} ${ok ? 'up  ' : 'down'} ${s.where()}`);
  }
  return all;
}


function startNode(script: string, env: NodeJS.ProcessEnv, log: string): ChildProcess {
  const fd = openSync(log, 'a');
  return spawn(process.execPath, [join(ROOT, script)], { env, stdio: ['ignore', fd, fd] });
}

const DEMO_PROMPT = [
  'Demo: write a file, run a command, read the file back.',
  'write_file hello.txt Hello from agentrun!\\nThis file lives in the run\'s S3 workspace.',
  'shell echo "durable agent runs on Temporal"',
  'shell uname -sr',
  'read_file hello.txt',
].join('\n');

async function demo(): Promise<void> {
  await up();
  const port = await freePort();
  const env = { ...process.env, ...(await stackEnv()), API_PORT: String(port), TEMPORAL_TASK_QUEUE: process.env.TEMPORAL_TASK_QUEUE ?? 'agentrun-demo' };
  const worker = startNode('src/worker/main.ts', env, join(LOGS, 'demo-worker.log'));
  const api = startNode('src/api/main.ts', env, join(LOGS, 'demo-api.log'));
  const exited = (name: string, p: ChildProcess) => new Promise<never>((_, reject) =>
    p.once('exit', (code) => reject(new StackError(`the ${name} exited with code ${code}; see ${join(LOGS, `demo-${name}.log`)}`))));
  const failFast = Promise.race([exited('worker', worker), exited('api', api)]);
  failFast.catch(() => undefined);
  try {
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    while (!(await fetch(`${base}/healthz`).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline) throw new StackError(`the API did not come up; see ${join(LOGS, 'demo-api.log')}`);
      await Promise.race([sleep(200), failFast]);
    }
    say(`\nPOST ${base}/v1/runs`);
    const res = await fetch(`${base}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: DEMO_PROMPT }) });
    const created = (await res.json()) as { id: string };
    say(`${res.status} ${JSON.stringify(created)}\n`);
    say(`streaming ${base}/v1/runs/${created.id}/events`);
    const stream = (async () => {
      for await (const m of readSse(`${base}/v1/runs/${created.id}/events`)) say(`  ${m.id ?? '-'}  ${m.event.padEnd(6)} ${m.data}`);
    })();
    await Promise.race([stream, failFast]);
    const final = (await (await fetch(`${base}/v1/runs/${created.id}`)).json()) as { status: string };
    say(`\nrun ${created.id} ${final.status}`);
    say(`Temporal Web UI: ${(await stackEnv()).TEMPORAL_UI_URL}/namespaces/default/workflows/${created.id}`);
    if (final.status !== 'completed') throw new StackError(`demo run ended ${final.status}`);
  } finally {
    api.kill('SIGTERM');
    worker.kill('SIGTERM');
    await Promise.all([api, worker].map((p) => (p.exitCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', r)))));
  }
}

async function test(args: string[]): Promise<number> {
  await up();
  const env = { ...process.env, ...(await stackEnv()) };
  const child = spawn('npm', ['test', ...(args.length ? ['--', ...args] : [])], { cwd: ROOT, env, stdio: 'inherit' });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'install': install(); say('installed'); return 0;
    case 'up': await up(); return 0;
    case 'down': await down(); return 0;
    case 'status': return (await status()) ? 0 : 1;
    case 'migrate': await migrateCmd(); return 0;
    case 'env': for (const [k, v] of Object.entries(await stackEnv())) say(`export ${k}='${v}'`); return 0;
    case 'demo': await demo(); return 0;
    case 'test': return test(rest);
    case 'config-table': say(configTable()); return 0;
    default:
      say('usage: ./dev install|up|down|status|migrate|env|demo|test|config-table');
      return cmd ? 2 : 0;
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  const e = err as Error;
  process.stderr.write(`agentrun stack: ${e.name === 'StackError' ? e.message : (e.stack ?? String(e))}\n`);
  process.exit(1);
});
