/**
 * docker-compose.yml: `docker-compose config` accepts it alone and with compose/local.yml
 * using .env.example's values, it holds no secret (every secret is a required `${VAR:?…}`
 * reference that .env.example lists), and compose/images' Containerfiles are hadolint
 * clean. Then the whole stack under podman-compose (project agentrun-compose-test-<hex>, ports
 * picked free): every service healthy and every one-shot exited 0, a run started on the
 * composed API with a JWT completes (its shell step in the worker's bubblewrap jail) and
 * its log streams; `down` leaves no container, pod, volume or network. Parts skip, saying
 * why, when docker-compose, hadolint, podman or the images are absent.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMPOSE_IMAGES } from '../../src/dev/compose-images.ts';
import { COMPOSE_FILES, COMPOSE_SECRETS, composeDown, composeEnv, composeUp, installComposeTools, openProject, type ComposeProject } from '../../src/dev/compose.ts';
import { loadStackContext } from '../../src/dev/context.ts';
import { IMAGES } from '../../src/dev/image.ts';
import { mintJwt } from '../../src/dev/jwt.ts';
import { freeLoopbackPort } from '../../src/infra/free-port.ts';
import { rememberToken } from '../helpers/auth.ts';
import { hasCommand, podman, skipWithoutImages } from '../helpers/podman.ts';
import { collect, createRun, parse } from '../helpers/runs.ts';
import { ROOT, waitUntil } from '../helpers/stack.ts';

const ctx = loadStackContext(process.env);
const hadolint = join(ctx.paths.tools, 'hadolint', 'bin', 'hadolint');
// Its own project name per run: checkouts sharing this machine's podman may run this test at once.
const PROJECT = `agentrun-compose-test-${randomBytes(3).toString('hex')}`;

const exampleEnv = () => join(ROOT, '.env.example');
const dockerCompose = (files: string[], args: string[]) =>
  spawnSync('docker-compose', ['--project-name', PROJECT, '--env-file', exampleEnv(), ...files.flatMap((f) => ['-f', f]), ...args], { cwd: ROOT, encoding: 'utf8' });

describe('docker-compose.yml, checked without a daemon', () => {
  it('docker-compose config accepts it alone and with compose/local.yml, with .env.example\'s values', { skip: hasCommand('docker-compose') ? false : 'docker-compose is not installed (./dev compose installs it: apt docker-compose)' }, () => {
    for (const files of [[COMPOSE_FILES[0]!], COMPOSE_FILES]) {
      const r = dockerCompose(files, ['config', '--quiet']);
      assert.equal(r.status, 0, `${files.join(' + ')}: ${r.stderr}`);
    }
    const services = dockerCompose(COMPOSE_FILES, ['config', '--services']).stdout.trim().split('\n').sort();
    assert.deepEqual(services, ['api', 'create-bucket', 'migrate', 'minio', 'postgres', 'postgrest', 'redis', 'temporal', 'temporal-setup', 'temporal-ui', 'worker']);
  });

  it('holds no secret: each is a required ${VAR:?…} reference, and .env.example lists every variable the files use', () => {
    const text = COMPOSE_FILES.map((f) => readFileSync(f, 'utf8')).join('\n');
    const used = new Set([...text.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]!));
    const example = new Set(readFileSync(exampleEnv(), 'utf8').split('\n').filter((l) => /^[A-Z0-9_]+=/.test(l)).map((l) => l.split('=')[0]!));
    assert.deepEqual([...used].filter((v) => !example.has(v)), [], 'variables missing from .env.example');
    for (const secret of [...COMPOSE_SECRETS, 'MINIO_ROOT_USER']) {
      for (const m of text.matchAll(new RegExp(`\\$\\{${secret}([^}]*)\\}`, 'g'))) assert.match(m[1]!, /^:\?/, `${secret} must be required: \${${secret}${m[1]}}`);
    }
    assert.doesNotMatch(text, /PASSWORD: "?[a-z0-9]{8,}/i, 'a literal password');
  });

  it('compose/images\' Containerfiles are hadolint clean', { skip: hasCommand(hadolint) ? false : 'hadolint is not installed (./dev image installs it)' }, () => {
    for (const img of COMPOSE_IMAGES) {
      const file = join(ROOT, 'compose/images', img.dir, 'Containerfile');
      const r = spawnSync(hadolint, [file], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${file}: ${r.stdout}${r.stderr}`);
    }
  });
});

const skip = skipWithoutImages([IMAGES.app, ...COMPOSE_IMAGES.map((i) => i.tag)], 'run ./dev image, then ./dev compose build');

describe('the compose stack under podman-compose', { skip }, () => {
  let dir = '';
  let project: ComposeProject;
  const leftovers = () => ({
    containers: podman(['ps', '-a', '-q', '--filter', `label=io.podman.compose.project=${PROJECT}`]).stdout.trim(),
    pods: podman(['pod', 'ls', '-q', '--filter', `name=pod_${PROJECT}`]).stdout.trim(),
    volumes: podman(['volume', 'ls', '-q', '--filter', `label=io.podman.compose.project=${PROJECT}`]).stdout.trim(),
    networks: podman(['network', 'ls', '-q', '--filter', `label=io.podman.compose.project=${PROJECT}`]).stdout.trim(),
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentrun-compose-'));
    const ports: Record<string, number> = {};
    for (const k of ['API', 'TEMPORAL', 'TEMPORAL_UI', 'S3_CONSOLE', 'POSTGREST', 'POSTGREST_ADMIN']) ports[`AGENTRUN_COMPOSE_${k}_PORT`] = await freeLoopbackPort();
    composeEnv(join(dir, 'env'), ports);
    project = openProject(ctx, installComposeTools(ctx), PROJECT, join(dir, 'env'));
  });
  after(() => {
    try {
      if (project && leftovers().containers) composeDown(project, true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('comes up healthy in depends_on order; a run on the composed API completes and its log streams; down leaves nothing', async (t) => {
    let start = Date.now();
    await composeUp(project, (l) => t.diagnostic(l));
    t.diagnostic(`up: ${Math.round((Date.now() - start) / 1000)} s`);
    const api = `http://127.0.0.1:${project.env.AGENTRUN_COMPOSE_API_PORT}`;
    assert.equal((await fetch(`${api}/readyz`)).status, 200);
    const postgrest = await fetch(`http://127.0.0.1:${project.env.AGENTRUN_COMPOSE_POSTGREST_ADMIN_PORT}/ready`);
    assert.equal(postgrest.status, 200, 'PostgREST is ready on the migrated database');

    start = Date.now();
    const user = `compose-${Date.now()}`;
    const grant = podman(['exec', `${PROJECT}_postgres_1`, 'psql', '-v', 'ON_ERROR_STOP=1', '-U', 'postgres', '-d', 'agentrun', '-tAc',
      `SELECT credit_grant('${user}', 1000, 'compose-test-${user}', 'compose test')`]);
    assert.equal(grant.status, 0, grant.stderr);
    rememberToken(api, await mintJwt(project.env.AUTH_JWT_SECRET!, { sub: user, aud: 'authenticated', role: 'authenticated' }, '1h'));
    const unauth = await fetch(`${api}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"x"}' });
    assert.equal(unauth.status, 401, 'the composed API (on 0.0.0.0) requires a token');
    // The step prints its pid 1's command line: bubblewrap's own pid namespace, not the worker.
    const runId = await createRun(api, `write_file a.txt composed\nshell sh -c "cat a.txt; echo; echo compose-run-ok; cat /proc/1/cmdline"\nread_file a.txt`);
    const events = await collect(api, runId, { timeoutMs: 180_000 });
    assert.equal(parse(events.at(-1)!).status, 'completed', JSON.stringify(events.slice(-5)));
    const text = events.map((e) => e.data).join('\n');
    assert.match(text, /compose-run-ok/);
    assert.match(text, /"text":"composed"/);
    assert.match(text, /"text":"\/usr\/bin\/bwrap[^"]*--unshare-all/, 'the step\'s pid 1 is bubblewrap (its own pid namespace), not the worker');
    t.diagnostic(`run: ${Math.round((Date.now() - start) / 1000)} s`);

    start = Date.now();
    composeDown(project, true);
    await waitUntil('the project\'s containers, pod, volumes and network are gone', () => Object.values(leftovers()).every((v) => v === ''), 60_000);
    t.diagnostic(`down: ${Math.round((Date.now() - start) / 1000)} s`);
  });
});

// The env file composeEnv writes is the only place the generated secrets live: mode 0600.
it('composeEnv keeps generated secrets across calls and writes them 0600', () => {
  const d = mkdtempSync(join(tmpdir(), 'agentrun-compose-env-'));
  try {
    const file = join(d, 'env');
    writeFileSync(file, 'REDIS_PASSWORD=kept\n');
    const v = composeEnv(file, { AGENTRUN_COMPOSE_API_PORT: 1 });
    assert.equal(v.REDIS_PASSWORD, 'kept');
    assert.match(v.POSTGRES_PASSWORD!, /^[0-9a-f]{64}$/);
    assert.equal(composeEnv(file, {}).POSTGRES_PASSWORD, v.POSTGRES_PASSWORD);
    assert.equal(spawnSync('stat', ['-c', '%a', file], { encoding: 'utf8' }).stdout.trim(), '600');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
