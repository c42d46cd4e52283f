/**
 * The /rest/v1 gateway (apt `nginx-light`): Supabase serves PostgREST under /rest/v1
 * behind its gateway and supabase-js expects that layout, so SUPABASE_URL points here.
 * Its config and temp directories live under <data>/gateway.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST, type StackContext } from '../context.ts';
import { apt, log, readPid, StackError, startDetached, stopPid, systemBin, waitFor } from '../proc.ts';
import { logFile, pidFile, type Service } from './service.ts';

function nginxBin(): string | undefined {
  return systemBin('nginx', '/usr/sbin/nginx');
}

function install(): void {
  if (nginxBin()) return;
  log('installing nginx-light from apt (the /rest/v1 gateway in front of PostgREST)');
  apt(['nginx-light'], 'nginx');
}

async function healthy(ctx: StackContext): Promise<boolean> {
  const r = await fetch(`http://${HOST}:${ctx.ports.gateway}/rest/v1/`).catch(() => undefined);
  return r !== undefined && r.status < 500;
}

function writeConfig(ctx: StackContext, dir: string): string {
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => {
    const d = join(dir, t);
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o777); // nginx workers drop to an unprivileged user
    return `${t}_temp_path ${d};`;
  });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${logFile(ctx, 'gateway')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  ${temps.join('\n  ')}
  server {
    listen ${HOST}:${ctx.ports.gateway};
    location /rest/v1/ {
      proxy_pass http://${HOST}:${ctx.ports.postgrest}/;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Connection "";
    }
    location = /healthz { return 200 "ok\n"; }
  }
}
`);
  return conf;
}

async function start(ctx: StackContext): Promise<void> {
  const pid = pidFile(ctx, 'gateway');
  const logs = logFile(ctx, 'gateway');
  if (readPid(pid) && (await healthy(ctx))) return;
  await stopPid(pid);
  const bin = nginxBin();
  if (!bin) throw new StackError('nginx is not installed: run ./dev install');
  const dir = join(ctx.paths.data, 'gateway');
  mkdirSync(dir, { recursive: true });
  startDetached(bin, ['-c', writeConfig(ctx, dir), '-p', dir], { logFile: logs, pidFile: pid });
  await waitFor('the /rest/v1 gateway (nginx)', 20_000, () => healthy(ctx), `see ${logs}`);
}

export const gateway: Service = {
  name: 'gateway',
  install,
  start,
  healthy,
  stop: (ctx) => stopPid(pidFile(ctx, 'gateway')),
  where: (ctx) => `SUPABASE_URL http://${HOST}:${ctx.ports.gateway} (/rest/v1 → PostgREST)`,
};
