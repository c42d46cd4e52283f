/**
 * `./dev compose build|up|down|ps|config`: docker-compose.yml on this machine, with
 * compose/local.yml's locally built service images (compose-images.ts), under
 * podman-compose (PyPI, pinned, in .tools/podman-compose) and checked with docker-compose
 * (Debian apt). The project `agentrun-compose` (AGENTRUN_COMPOSE_PROJECT moves it)
 * publishes its ports on loopback, offset like the dev stack's so they collide with no
 * stack; its generated secrets live in <data>/compose/env (mode 0600).
 *
 * podman here is 4.3: podman-compose ignores `condition: service_healthy` before podman
 * 4.6, and podman runs healthchecks from systemd timers, which this machine lacks. So
 * `up` starts the services wave by wave in depends_on order (podman-compose up -d
 * --no-deps), running the healthchecks itself (`podman healthcheck run`) until each
 * wave's services are healthy, running, or exited 0 as their dependents require.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildComposeImages } from './compose-images.ts';
import { ROOT, type StackContext } from './context.ts';
import { containerEnv } from './image.ts';
import { apt, pipTool, run, StackError, which } from './proc.ts';

const PODMAN_COMPOSE_VERSION = '1.5.0'; // PyPI podman-compose
export const COMPOSE_FILES = [join(ROOT, 'docker-compose.yml'), join(ROOT, 'compose/local.yml')];
/** The project `./dev compose` runs (AGENTRUN_COMPOSE_PROJECT moves it). */
const DEFAULT_PROJECT = 'agentrun-compose';
/** The secrets .env.example asks for: generated once per machine for `./dev compose`. */
export const COMPOSE_SECRETS = ['POSTGRES_PASSWORD', 'PGRST_AUTHENTICATOR_PASSWORD', 'REDIS_PASSWORD', 'MINIO_ROOT_PASSWORD', 'AUTH_JWT_SECRET', 'INGRESS_SIGNING_SECRET'] as const;
/** The published ports (.env.example) and their defaults before the stack's offset. */
const PORTS = {
  AGENTRUN_COMPOSE_API_PORT: 28080, AGENTRUN_COMPOSE_TEMPORAL_PORT: 27233, AGENTRUN_COMPOSE_TEMPORAL_UI_PORT: 28233,
  AGENTRUN_COMPOSE_S3_CONSOLE_PORT: 29001, AGENTRUN_COMPOSE_POSTGREST_PORT: 23000, AGENTRUN_COMPOSE_POSTGREST_ADMIN_PORT: 23001,
} as const;

/** podman-compose from PyPI in .tools/podman-compose, docker-compose from apt; returns podman-compose's path. */
export function installComposeTools(ctx: StackContext): string {
  if (!which('docker-compose')) apt(['docker-compose'], 'docker-compose (validates docker-compose.yml)');
  const missing = ['podman', 'buildah'].filter((c) => !which(c));
  if (missing.length) apt(missing, missing.join(', '));
  // podman 4.3 names services on a compose network through CNI's dnsname plugin, which no podman package pulls in.
  if (!existsSync('/usr/lib/cni/dnsname')) apt(['golang-github-containernetworking-plugin-dnsname'], 'the CNI dnsname plugin (compose services reach each other by name)');
  return pipTool(join(ctx.paths.tools, 'podman-compose'), 'podman-compose', PODMAN_COMPOSE_VERSION, 'podman-compose');
}

/** A compose project on this machine: its name, env file (secrets and ports), and the tools. */
export interface ComposeProject {
  readonly name: string;
  readonly envFile: string;
  readonly podmanCompose: string;
  /** podman's environment (containerEnv) with the env file's values, for interpolation. */
  readonly env: NodeJS.ProcessEnv;
}

const parseEnvFile = (text: string) => Object.fromEntries(text.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

/** Writes (once; kept after) the env file of a project: generated secrets, ports, the images. */
export function composeEnv(file: string, ports: Record<string, number>, extra: Record<string, string> = {}): Record<string, string> {
  const kept = existsSync(file) ? parseEnvFile(readFileSync(file, 'utf8')) : {};
  const values: Record<string, string> = { MINIO_ROOT_USER: 'agentrun', S3_BUCKET: 'agentrun-workspaces', LLM_PROVIDER: 'offline' };
  for (const k of COMPOSE_SECRETS) values[k] = kept[k] ?? randomBytes(32).toString('hex');
  for (const [k, v] of Object.entries(ports)) values[k] = String(v);
  Object.assign(values, extra);
  writeFileSync(file, Object.entries(values).map(([k, v]) => `${k}=${v}`).join('\n') + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return values;
}

export function openProject(ctx: StackContext, podmanCompose: string, name: string, envFile: string): ComposeProject {
  const values = parseEnvFile(readFileSync(envFile, 'utf8'));
  return { name, envFile, podmanCompose, env: { ...containerEnv(ctx.env), ...values } };
}

/** Runs podman-compose on both files for the project; returns its output (throws on failure). */
export function podmanCompose(p: ComposeProject, args: string[], quiet = true): string {
  const files = COMPOSE_FILES.flatMap((f) => ['-f', f]);
  return run(p.podmanCompose, ['--project-name', p.name, '--env-file', p.envFile, ...files, ...args],
    { quiet, env: p.env, cwd: ROOT, what: `podman-compose ${args.join(' ')}` });
}

interface ServiceConfig { depends_on?: Record<string, { condition?: string }>; healthcheck?: unknown; profiles?: string[] }

/** The merged configuration of both files (docker-compose config), as JSON via podman-compose's own PyYAML. */
export function mergedServices(p: ComposeProject): Record<string, ServiceConfig> {
  const files = COMPOSE_FILES.flatMap((f) => ['-f', f]);
  const yaml = run('docker-compose', ['--project-name', p.name, '--env-file', p.envFile, ...files, 'config'], { quiet: true, env: p.env, cwd: ROOT, what: 'docker-compose config' });
  const python = join(p.podmanCompose, '..', 'python');
  const json = spawnSync(python, ['-c', 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], { input: yaml, encoding: 'utf8' });
  if (json.status !== 0) throw new StackError(`could not read the merged compose config: ${json.stderr}`);
  return (JSON.parse(json.stdout) as { services: Record<string, ServiceConfig> }).services;
}

/** Services (no profile) grouped in start order: each wave depends only on earlier ones. */
export function waves(services: Record<string, ServiceConfig>): string[][] {
  const active = Object.keys(services).filter((s) => !services[s]!.profiles?.length);
  const depth = new Map<string, number>();
  const visit = (s: string, seen: string[]): number => {
    if (seen.includes(s)) throw new StackError(`depends_on cycle: ${[...seen, s].join(' → ')}`);
    if (!depth.has(s)) depth.set(s, 1 + Math.max(-1, ...Object.keys(services[s]?.depends_on ?? {}).map((d) => visit(d, [...seen, s]))));
    return depth.get(s)!;
  };
  const out: string[][] = [];
  for (const s of active) (out[visit(s, [])] ??= []).push(s);
  return out.filter(Boolean);
}

/** The state of a service's container: podman's status, health and exit code. */
function state(p: ComposeProject, service: string): { status: string; health: string; exitCode: number } | undefined {
  const r = spawnSync('podman', ['inspect', '-f', '{{.State.Status}} {{.State.Health.Status}} {{.State.ExitCode}}', `${p.name}_${service}_1`], { env: p.env, encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const [status = '', health = '', code = '0'] = r.stdout.trim().split(' ');
  return { status, health, exitCode: Number(code) };
}

const logsOf = (p: ComposeProject, service: string) => spawnSync('podman', ['logs', '--tail', '30', `${p.name}_${service}_1`], { env: p.env, encoding: 'utf8' });

/** Waits until the service is what its dependents need ('healthy', 'completed' exit 0, or 'running'); runs its healthcheck meanwhile. */
async function waitService(p: ComposeProject, service: string, want: 'healthy' | 'completed' | 'running', timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = state(p, service);
    if (s && want === 'completed' && s.status === 'exited') {
      if (s.exitCode === 0) return;
      const l = logsOf(p, service);
      throw new StackError(`${service} exited with code ${s.exitCode}: ${(l.stdout + l.stderr).trim().split('\n').slice(-10).join('\n')}`);
    }
    if (s && want !== 'completed' && s.status === 'exited') {
      const l = logsOf(p, service);
      throw new StackError(`${service} stopped (exit ${s.exitCode}): ${(l.stdout + l.stderr).trim().split('\n').slice(-10).join('\n')}`);
    }
    if (s?.status === 'running' && want === 'running') return;
    if (s?.status === 'running' && want === 'healthy') {
      if (spawnSync('podman', ['healthcheck', 'run', `${p.name}_${service}_1`], { env: p.env }).status === 0) return;
    }
    if (Date.now() > deadline) throw new StackError(`${service} is not ${want} after ${timeoutMs / 1000} s (state: ${JSON.stringify(s)})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Brings the project up wave by wave; resolves when every service is healthy/running and every one-shot exited 0. */
export async function composeUp(p: ComposeProject, say: (l: string) => void, timeoutMs = 600_000): Promise<void> {
  const services = mergedServices(p);
  const need = new Map<string, 'healthy' | 'completed' | 'running'>();
  for (const cfg of Object.values(services)) {
    for (const [dep, { condition }] of Object.entries(cfg.depends_on ?? {})) {
      const want = condition === 'service_healthy' ? 'healthy' : condition === 'service_completed_successfully' ? 'completed' : 'running';
      if (need.get(dep) !== 'completed' && need.get(dep) !== 'healthy') need.set(dep, want);
    }
  }
  for (const wave of waves(services)) {
    const t = Date.now();
    podmanCompose(p, ['up', '-d', '--no-deps', ...wave]);
    for (const s of wave) await waitService(p, s, need.get(s) ?? (services[s]!.healthcheck ? 'healthy' : 'running'), timeoutMs);
    say(`  ${wave.join(', ')}: ready in ${Math.round((Date.now() - t) / 1000)} s`);
  }
}

/** Stops and removes the project's containers, network and (with volumes) its volumes. */
export function composeDown(p: ComposeProject, volumes: boolean): void {
  podmanCompose(p, ['down', '-t', '30', ...(volumes ? ['-v'] : [])]);
}

/** `./dev compose <build|up|down|ps|config>`. */
export async function composeCmd(ctx: StackContext, args: string[], say: (l: string) => void): Promise<number> {
  const [sub = 'up', ...rest] = args;
  const bin = installComposeTools(ctx);
  const dir = join(ctx.paths.data, 'compose');
  mkdirSync(dir, { recursive: true });
  const envFile = join(dir, 'env');
  const offset = ctx.ports.temporal - 17233; // the dev stack's own offset, so two checkouts do not collide
  composeEnv(envFile, Object.fromEntries(Object.entries(PORTS).map(([k, v]) => [k, v + offset])));
  const project = ctx.env.AGENTRUN_COMPOSE_PROJECT || DEFAULT_PROJECT;
  const p = openProject(ctx, bin, project, envFile);
  switch (sub) {
    case 'build': buildComposeImages(ctx, rest.includes('--rebuild')); return 0;
    case 'config': say(podmanCompose(p, ['config'])); return 0;
    case 'ps': say(podmanCompose(p, ['ps'])); return 0;
    case 'down': composeDown(p, rest.includes('-v')); say(`  ${project}: down`); return 0;
    case 'up': {
      buildComposeImages(ctx, false);
      await composeUp(p, say);
      say(`  API http://127.0.0.1:${p.env.AGENTRUN_COMPOSE_API_PORT} (JWTs signed with AUTH_JWT_SECRET of ${envFile}), Temporal UI http://127.0.0.1:${p.env.AGENTRUN_COMPOSE_TEMPORAL_UI_PORT}`);
      return 0;
    }
    default: say('usage: ./dev compose build [--rebuild]|up|down [-v]|ps|config'); return 2;
  }
}
