/**
 * k8s/ as kustomize renders it: every overlay builds, and every object it renders
 * passes server-side dry-run (validation and admission, nothing stored) on the
 * test apiserver (./dev up --kube; it serves the PrometheusRule CRD too); the pieces fit
 * together (autoscalers, budgets and envFrom name what the build holds; the
 * worker's grace period covers its drain; pod templates pass Pod Security
 * "restricted"); the Secret templates hold names only, and a private overlay
 * supplies their values the way k8s/README.md says.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { KubeConfig, loadAllYaml, type KubernetesObject, type V1Deployment, type V1Secret } from '@kubernetes/client-node';
import type { V1HorizontalPodAutoscaler, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { ROOT, stackPaths } from '../../src/dev/context.ts';
import { run } from '../../src/dev/proc.ts';
import { applyObjects, buildOverlay, OVERLAYS } from '../../src/dev/services/kube/cluster.ts';
import { kustomizeBin } from '../../src/dev/services/kube/layout.ts';
import { CONFIG_VARS } from '../../src/shared/config/vars.ts';
import { kubeStackEnv } from '../helpers/stack.ts';

const paths = stackPaths(process.env);
const ofKind = <T extends KubernetesObject>(objs: KubernetesObject[], kind: string) => objs.filter((o) => o.kind === kind) as T[];
const named = <T extends KubernetesObject>(objs: KubernetesObject[], kind: string, name: string): T => {
  const found = ofKind<T>(objs, kind).find((o) => o.metadata?.name === name);
  assert.ok(found, `${kind}/${name} in the build`);
  return found;
};
const envOf = (d: V1Deployment) => Object.fromEntries((d.spec!.template.spec!.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
const decode = (s: V1Secret) => Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));

describe('k8s/ overlays (kustomize build + server-side dry-run)', { timeout: 300_000 }, () => {
  const admin = new KubeConfig();
  admin.loadFromFile(kubeStackEnv().AGENTRUN_KUBE_ADMIN_KUBECONFIG);
  const tmp = mkdtempSync(join(tmpdir(), 'agentrun-kustomize-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  for (const overlay of OVERLAYS) {
    it(`${overlay}: every object kustomize renders passes server-side dry-run`, async () => {
      const objs = buildOverlay(paths, overlay);
      const kinds = new Set(objs.map((o) => o.kind));
      for (const kind of ['Namespace', 'ResourceQuota', 'LimitRange', 'NetworkPolicy', 'ServiceAccount', 'Role', 'RoleBinding',
        'Secret', 'Deployment', 'Service', 'HorizontalPodAutoscaler', 'PrometheusRule', 'PodMonitor']) assert.ok(kinds.has(kind), `${overlay} renders a ${kind}`);
      if (overlay === 'production') assert.equal(ofKind(objs, 'PodDisruptionBudget').length, 2);
      const applied = await applyObjects(admin, objs, true);
      assert.equal(applied.length, objs.length);
      assert.deepEqual(applied.map((o) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`),
        objs.map((o) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`));
    });

    it(`${overlay}: autoscalers, budgets and envFrom name what the build holds; the worker outlasts its drain; pods pass Pod Security "restricted"`, async () => {
      const objs = buildOverlay(paths, overlay);
      const deployments = ofKind<V1Deployment>(objs, 'Deployment');
      assert.deepEqual(deployments.map((d) => d.metadata?.name).sort(), ['agentrun-api', 'agentrun-worker']);
      for (const hpa of ofKind<V1HorizontalPodAutoscaler & KubernetesObject>(objs, 'HorizontalPodAutoscaler')) {
        assert.equal(hpa.apiVersion, 'autoscaling/v2');
        const target = named<V1Deployment>(objs, hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name);
        assert.equal(target.metadata?.namespace, hpa.metadata?.namespace);
        assert.ok(hpa.spec.minReplicas! <= hpa.spec.maxReplicas);
      }
      for (const pdb of ofKind<V1PodDisruptionBudget & KubernetesObject>(objs, 'PodDisruptionBudget')) {
        const sel = Object.entries(pdb.spec!.selector!.matchLabels!);
        assert.equal(deployments.filter((d) => sel.every(([k, v]) => d.spec!.template.metadata!.labels![k] === v)).length, 1, pdb.metadata?.name);
      }
      const secrets = ofKind<V1Secret & KubernetesObject>(objs, 'Secret').map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`);
      for (const d of deployments) {
        for (const from of d.spec!.template.spec!.containers[0]!.envFrom ?? []) {
          assert.ok(secrets.includes(`${d.metadata?.namespace}/${from.secretRef!.name}`), `${d.metadata?.name} reads ${from.secretRef!.name}`);
        }
      }
      const worker = named<V1Deployment>(objs, 'Deployment', 'agentrun-worker');
      const graceMs = Number(envOf(worker).WORKER_SHUTDOWN_GRACE_MS ?? CONFIG_VARS.WORKER_SHUTDOWN_GRACE_MS.default);
      assert.ok(worker.spec!.template.spec!.terminationGracePeriodSeconds! * 1000 >= graceMs + 10_000,
        `terminationGracePeriodSeconds covers WORKER_SHUTDOWN_GRACE_MS=${graceMs} with headroom`);
      named(objs, 'Secret', envOf(worker).K8S_S3_SECRET ?? CONFIG_VARS.K8S_S3_SECRET.default!);
      // The tools namespace enforces "restricted": a pod made of each template must be admitted there.
      for (const d of deployments) {
        const { serviceAccountName: _sa, ...spec } = d.spec!.template.spec!;
        const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `pss-${d.metadata!.name}`, namespace: 'agentrun-tools' }, spec } as KubernetesObject;
        await applyObjects(admin, [pod], true);
      }
    });
  }

  it('production pins its images; the local overlay uses the ones ./dev image builds', () => {
    for (const [overlay, pinned] of [['production', true], ['local', false]] as const) {
      const objs = buildOverlay(paths, overlay);
      for (const d of ofKind<V1Deployment>(objs, 'Deployment')) {
        const images = [d.spec!.template.spec!.containers[0]!.image!, ...(d.metadata!.name === 'agentrun-worker' ? [envOf(d).K8S_RUNNER_IMAGE!] : [])];
        for (const image of images) {
          assert.match(image, /:[\w.-]+$/, `${overlay} ${image} has a tag`);
          assert.doesNotMatch(image, /:latest$/);
          assert.equal(image.includes('/'), pinned, `${overlay} ${image}`);
        }
      }
    }
  });

  it('the Secret templates hold names only; a private overlay on production supplies the values and rolls the Deployments', async () => {
    const objs = buildOverlay(paths, 'production');
    const env = named<V1Secret>(objs, 'Secret', ofKind<V1Secret>(objs, 'Secret').find((s) => s.metadata!.name!.startsWith('agentrun-env-'))!.metadata!.name!);
    for (const s of ofKind<V1Secret>(objs, 'Secret')) {
      assert.equal(s.stringData, undefined);
      for (const [k, v] of Object.entries(decode(s))) assert.equal(v, '', `${s.metadata?.name} ${k} has no value`);
    }
    const secretVars = Object.entries(CONFIG_VARS).filter(([, spec]) => spec.secret).map(([name]) => name);
    for (const name of secretVars) assert.ok(name in decode(env), `agentrun-env lists ${name}`);

    // As k8s/README.md "Secrets" says: an overlay outside git replaces the templates with files outside git.
    writeFileSync(join(tmp, 'agentrun-env.env'), 'DATABASE_URL=postgres://agentrun@db/agentrun\nREDIS_URL=redis://redis:6379\n');
    writeFileSync(join(tmp, 'runner-s3.env'), 'AWS_ACCESS_KEY_ID=AKIAEXAMPLE\nAWS_SECRET_ACCESS_KEY=example-secret\n');
    writeFileSync(join(tmp, 'kustomization.yaml'), [
      'apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization',
      `resources: [${relative(tmp, join(ROOT, 'k8s', 'overlays', 'production'))}]`,
      'secretGenerator:',
      '  - { name: agentrun-env, namespace: agents, behavior: replace, envs: [agentrun-env.env] }',
      '  - { name: agentrun-runner-s3, namespace: agentrun-tools, behavior: replace, envs: [runner-s3.env] }', '',
    ].join('\n'));
    const mine = loadAllYaml(run(kustomizeBin(paths), ['build', tmp], { quiet: true })) as KubernetesObject[];
    const filled = ofKind<V1Secret>(mine, 'Secret');
    const envSecret = filled.find((s) => s.metadata!.name!.startsWith('agentrun-env-'))!;
    assert.notEqual(envSecret.metadata!.name, env.metadata!.name, 'new values, new name: the Deployments roll');
    assert.deepEqual(decode(envSecret), { DATABASE_URL: 'postgres://agentrun@db/agentrun', REDIS_URL: 'redis://redis:6379' });
    assert.equal(decode(named(mine, 'Secret', 'agentrun-runner-s3')).AWS_ACCESS_KEY_ID, 'AKIAEXAMPLE');
    for (const d of ofKind<V1Deployment>(mine, 'Deployment')) {
      assert.equal(d.spec!.template.spec!.containers[0]!.envFrom![0]!.secretRef!.name, envSecret.metadata!.name);
    }
    await applyObjects(admin, mine, true);
  });
});
