/**
 * docs/deploy.md, run: every block marked `<!-- run: NAME -->` is executed as written
 * (kustomize and kubectl from .tools/k8s/bin against the test cluster's apiserver, with
 * kwok's nodes running the pods; `temporal` and `npm` against the local stack) and every
 * block marked `<!-- prints: NAME -->` is compared with what the command or process
 * really printed (`…` in the guide matches anything: within a line, or whole lines).
 * The cluster part deploys the local overlay under a private overlay as section 3 says,
 * rolls a new image out, rolls it back and scales; it applies the same values `./dev up`
 * gave the shared objects (the runner's S3 Secret), and removes only what it added.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { migrate } from '../../src/store/migrate.ts';
import { boot } from '../helpers/boot.ts';
import { createDatabase, databaseUrl, dropDatabase, sql } from '../helpers/databases.ts';
import { kubeStackEnv, ROOT, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Proc } from '../helpers/stack.ts';

const GUIDE = readFileSync(join(ROOT, 'docs', 'deploy.md'), 'utf8');

/** The fenced block right after `<!-- kind: name -->`. */
function block(kind: 'run' | 'prints', name: string): string {
  const at = GUIDE.indexOf(`<!-- ${kind}: ${name} -->`);
  assert.ok(at >= 0, `docs/deploy.md has no <!-- ${kind}: ${name} --> block`);
  const m = /```[a-z]*\n([\s\S]*?)```/.exec(GUIDE.slice(at));
  assert.ok(m, `no fenced block after <!-- ${kind}: ${name} -->`);
  return m[1]!;
}

/** Asserts `actual` is what the guide's `prints` block shows: `…` is any text in a line; a line of `…` alone, any lines. */
function assertPrints(name: string, actual: string): void {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const lines = block('prints', name).replace(/\n$/, '').split('\n');
  const pattern = lines.map((l) => (l === '…' ? '(?:[^\\n]*\\n)*?' : `${escape(l).replace(/…/g, '[^\\n]*?')}\\n`)).join('');
  const text = actual.endsWith('\n') ? actual : `${actual}\n`;
  assert.match(text, new RegExp(`^${pattern}$`), `docs/deploy.md's "${name}" output is not what the command printed:\n${text}`);
}

const env = kubeStackEnv();
const tools = join(ROOT, '.tools', 'k8s', 'bin');
const kubeconfig = env.AGENTRUN_KUBE_ADMIN_KUBECONFIG;

/** Runs a guide block with sh -e (PATH: the built kustomize/kubectl, the stack's temporal), in `cwd`. */
function sh(script: string, cwd: string, extra: Record<string, string> = {}): string {
  const r = spawnSync('sh', ['-ec', script], {
    cwd, encoding: 'utf8', timeout: 600_000,
    env: { ...process.env, ...extra, PATH: [tools, join(ROOT, '.tools', 'node', 'bin'), join(ROOT, '.tools', 'venv', 'bin'), process.env.PATH].join(':'), KUBECONFIG: kubeconfig },
  });
  assert.equal(r.status, 0, `${script}\nexit ${r.status}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

describe('docs/deploy.md on the test cluster', { timeout: 900_000 }, () => {
  let dir: string;
  let apps: AppsV1Api;
  let built: string;
  const kc = new KubeConfig();

  before(async () => {
    kc.loadFromFile(kubeconfig);
    apps = kc.makeApiClient(AppsV1Api);
    dir = mkdtempSync(join(tmpdir(), 'agentrun-guide-'));
    symlinkSync(ROOT, join(dir, 'agentrun'));
    // Section 3's private overlay, on the local overlay (its images need no registry).
    const runnerS3 = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'agentrun-runner-s3', namespace: 'agentrun-tools' });
    const decoded = Object.entries(runnerS3.data ?? {}).map(([k, v]) => `${k}=${Buffer.from(v, 'base64').toString('utf8')}`);
    mkdirSync(join(dir, 'my-deploy'));
    writeFileSync(join(dir, 'my-deploy', 'runner-s3.env'), `${decoded.join('\n')}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'my-deploy', 'agentrun-env.env'), [
      'TEMPORAL_ADDRESS=temporal.example:7233', 'TEMPORAL_NAMESPACE=agentrun', 'REDIS_URL=redis://agentrun@redis.example:6379',
      'DATABASE_URL=postgres://agentrun@db.example/agentrun', 'S3_ENDPOINT=https://s3.example', 'S3_BUCKET=agentrun-workspaces',
      `AUTH_JWT_SECRET=${randomBytes(32).toString('hex')}`, `INGRESS_SIGNING_SECRET=${randomBytes(32).toString('hex')}`, '',
    ].join('\n'), { mode: 0o600 });
    writeOverlay(dir, 'dev');
    built = sh('kustomize build my-deploy', dir);
  });
  after(async () => {
    if (dir) {
      // Only what this test added: the Deployments, Services, autoscalers of namespace agents and its Secret.
      spawnSync(join(tools, 'kubectl'), ['-n', 'agents', 'delete', 'deployment,service,hpa,pdb', '-l', 'app.kubernetes.io/part-of=agentrun', '--wait=false'],
        { env: { ...process.env, KUBECONFIG: kubeconfig }, encoding: 'utf8' });
      for (const name of built?.match(/name: agentrun-env-[a-z0-9]+/g) ?? []) {
        spawnSync(join(tools, 'kubectl'), ['-n', 'agents', 'delete', 'secret', name.slice(6), '--wait=false'], { env: { ...process.env, KUBECONFIG: kubeconfig } });
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const image = async () => (await apps.readNamespacedDeployment({ name: 'agentrun-worker', namespace: 'agents' })).spec!.template.spec!.containers[0]!.image;

  it('deploys (section 5): applied server-side, both Deployments roll out on the kwok node', () => {
    assertPrints('deploy', sh(block('run', 'deploy'), dir));
  });

  it('rolls a new release out, then back (section 9): rollout undo returns the worker to the previous image', async () => {
    assert.equal(await image(), 'agentrun:dev');
    writeOverlay(dir, 'v2');
    sh(block('run', 'deploy'), dir);
    assert.equal(await image(), 'agentrun:v2');
    assertPrints('rollback', sh(block('run', 'rollback'), dir));
    assert.equal(await image(), 'agentrun:dev');
  });

  it('scales the worker by hand (section 7)', async () => {
    sh(block('run', 'scale'), dir);
    const d = await apps.readNamespacedDeployment({ name: 'agentrun-worker', namespace: 'agents' });
    assert.equal(d.status?.readyReplicas, 2);
  });
});

/** my-deploy/kustomization.yaml (next to its two env files) as section 3 shows it, on the local overlay, with the worker image at `tag`. */
function writeOverlay(dir: string, tag: string): void {
  writeFileSync(join(dir, 'my-deploy', 'kustomization.yaml'), [
    'resources: [../agentrun/k8s/overlays/local]',
    'images:',
    `  - { name: agentrun, newName: agentrun, newTag: "${tag}" }`,
    'secretGenerator:',
    '  - { name: agentrun-env, namespace: agents, behavior: replace, envs: [agentrun-env.env] }',
    '  - { name: agentrun-runner-s3, namespace: agentrun-tools, behavior: replace, envs: [runner-s3.env] }',
    '',
  ].join('\n'));
}

describe('docs/deploy.md against the local stack', { timeout: 600_000 }, () => {
  const queue = uniqueQueue('guide');
  let api: (Proc & { url: string }) | undefined;
  let worker: Proc | undefined;
  before(async () => {
    const procEnv = { ...env, TEMPORAL_TASK_QUEUE: queue };
    api = await startApi(procEnv);
    worker = await startWorker(procEnv);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
  });

  it('migrates (section 4): npm run migrate on an up-to-date database applies nothing', () => {
    const cmd = block('run', 'migrate').trim();
    assert.match(cmd, /^DATABASE_URL=postgres:\/\/… npm run migrate$/);
    assertPrints('migrate', sh('npm run --silent migrate', ROOT, { DATABASE_URL: env.DATABASE_URL! }));
  });

  it('verifies (section 6): the API\'s and the worker\'s /readyz, and the pollers Temporal sees', async () => {
    assertPrints('api-readyz', await (await fetch(`${api!.url}/readyz`)).text());
    const metrics = /"url":"(http:\/\/[^"]+)\/metrics"/.exec(worker!.output())?.[1];
    assert.ok(metrics, worker!.output());
    await waitUntil('the worker ready', async () => (await fetch(`${metrics}/readyz`)).ok);
    assertPrints('worker-readyz', await (await fetch(`${metrics}/readyz`)).text());
    const cmd = block('run', 'pollers').trim().replace('--task-queue agentrun', `--task-queue ${queue}`);
    const described = sh(cmd, ROOT, { TEMPORAL_ADDRESS: env.TEMPORAL_ADDRESS!, TEMPORAL_NAMESPACE: env.TEMPORAL_NAMESPACE ?? 'default' });
    assertPrints('pollers', described);
    const pollers = described.slice(described.indexOf('Pollers:')).split('\n').slice(2, 4).map((l) => l.trim().split(/\s+/)[1]).sort();
    assert.deepEqual(pollers, ['activity', 'workflow']);
  });
});

describe('docs/deploy.md troubleshooting: the lines the processes print (section 11)', { timeout: 300_000 }, () => {
  const procEnv = { ...env, TEMPORAL_TASK_QUEUE: uniqueQueue('guide-boot') };
  const refusal = async (overrides: Record<string, string>) => {
    const r = await boot('worker', { ...procEnv, ...overrides });
    assert.equal(r.code, 1, r.stderr);
    return r.stderr;
  };

  it('worker not polling: Temporal unreachable', async () => {
    assertPrints('temporal-unreachable', await refusal({ TEMPORAL_ADDRESS: '127.0.0.1:1' }));
  });
  it('Redis unreachable', async () => {
    assertPrints('redis-unreachable', await refusal({ REDIS_URL: 'redis://127.0.0.1:1' }));
  });
  it('S3 credentials', async () => {
    assertPrints('s3-credentials', await refusal({ S3_SECRET_ACCESS_KEY: 'not-the-secret-key' }));
  });
  it('schema mismatch: a database without credit_balances.available_credits', async () => {
    const db = await createDatabase('agentrun_guide');
    try {
      await migrate({ databaseUrl: databaseUrl(db) });
      await sql(db, 'ALTER TABLE credit_balances DROP COLUMN available_credits');
      assertPrints('schema-mismatch', await refusal({ DATABASE_URL: databaseUrl(db), STORE: 'postgres' }));
    } finally {
      await dropDatabase(db);
    }
  });
});

