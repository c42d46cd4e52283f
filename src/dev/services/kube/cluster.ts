/**
 * Makes the test cluster look like production: the kwok node tool pods land
 * on, and the cluster-level part of k8s/overlays/local as `kustomize build`
 * renders it (tools namespace with its Pod Security labels, quota and limits,
 * NetworkPolicies, the worker's service account and Role) applied with
 * server-side apply, plus the runner's S3 Secret; and the prometheus-operator's
 * PrometheusRule and PodMonitor CRDs, so k8s/'s monitoring objects are validated
 * like the rest.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiextensionsV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi, loadAllYaml, PatchStrategy, setHeaderOptions, type KubernetesObject,
} from '@kubernetes/client-node';
import { ROOT, type StackContext, type StackPaths } from '../../context.ts';
import { run, StackError, waitFor } from '../../proc.ts';
import { secrets } from '../../secrets.ts';
import { kubeconfigPath, kustomizeBin, KWOK_NODE, MONITORING_CRDS, monitoringCrdFile, TOOLS_NAMESPACE, WORKER_SA } from './layout.ts';

/** The overlays under k8s/overlays. */
export const OVERLAYS = ['local', 'production'] as const;

/** Every object `kustomize build k8s/overlays/<overlay>` renders. */
export function buildOverlay(paths: StackPaths, overlay: typeof OVERLAYS[number]): KubernetesObject[] {
  if (!existsSync(kustomizeBin(paths))) throw new StackError(`kustomize is missing at ${kustomizeBin(paths)}: run ./dev install --kube`);
  const yaml = run(kustomizeBin(paths), ['build', join(ROOT, 'k8s', 'overlays', overlay)], { quiet: true, what: `kustomize build k8s/overlays/${overlay}` });
  return loadAllYaml(yaml) as KubernetesObject[];
}

/**
 * What the test cluster takes from the local overlay: not the Deployments (kwok would
 * only pretend to run them) nor the Secret templates (empty; the stack writes the
 * runner's S3 Secret itself), nor what needs the Deployments (Services, HPAs, PDBs).
 */
const CLUSTER_KINDS = new Set(['Namespace', 'ResourceQuota', 'LimitRange', 'NetworkPolicy', 'ServiceAccount', 'Role', 'RoleBinding']);

export function clusterManifests(paths: StackPaths): KubernetesObject[] {
  return buildOverlay(paths, 'local').filter((o) => CLUSTER_KINDS.has(o.kind ?? ''));
}

/** Server-side apply; `dryRun` asks the apiserver to validate and admit without persisting. */
export async function applyObjects(kc: KubeConfig, objects: KubernetesObject[], dryRun = false): Promise<KubernetesObject[]> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const out: KubernetesObject[] = [];
  for (const obj of objects) {
    out.push(await api.patch(obj, undefined, dryRun ? 'All' : undefined, 'agentrun-dev', true, PatchStrategy.ServerSideApply));
  }
  return out;
}

/** The prometheus-operator CRDs (./dev install takes them from the operator's module), served once Established. */
async function installMonitoringCrds(kc: KubeConfig, paths: StackPaths): Promise<void> {
  const crds = MONITORING_CRDS.flatMap((plural) => {
    const file = monitoringCrdFile(paths, plural);
    if (!existsSync(file)) throw new StackError(`the ${plural} CRD is missing at ${file}: run ./dev install --kube`);
    return loadAllYaml(readFileSync(file, 'utf8')) as KubernetesObject[];
  });
  await applyObjects(kc, crds);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  for (const crd of crds) {
    await waitFor(`the ${crd.metadata!.name} CRD to be Established`, 30_000, async () => {
      const got = await ext.readCustomResourceDefinition({ name: crd.metadata!.name! }).catch(() => undefined);
      return got?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') === true;
    });
  }
}

export async function prepareCluster(ctx: StackContext): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath(ctx.paths, 'admin'));
  await installMonitoringCrds(kc, ctx.paths);
  const core = kc.makeApiClient(CoreV1Api);
  const s = secrets(ctx);
  await applyObjects(kc, [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: WORKER_SA.namespace } },
    ...clusterManifests(ctx.paths),
    {
      apiVersion: 'v1', kind: 'Node',
      metadata: { name: KWOK_NODE, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { type: 'kwok', 'kubernetes.io/os': 'linux' } },
    },
    {
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: { name: 'agentrun-runner-s3', namespace: TOOLS_NAMESPACE },
      stringData: { AWS_ACCESS_KEY_ID: s.minioUser, AWS_SECRET_ACCESS_KEY: s.minioPassword },
    } as KubernetesObject,
  ]);
  await waitFor('the kwok node to be Ready', 30_000, async () => {
    const node = await core.readNode({ name: KWOK_NODE }).catch(() => undefined);
    return node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  });
  // Where the apiserver finds the node's kubelet (kwok's server): pod logs go through it.
  await core.patchNodeStatus({
    name: KWOK_NODE,
    body: { status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: ctx.ports.kwok } } } },
  }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  // The service-account admission plugin waits for the namespace's default account.
  await waitFor('the tools namespace\'s default service account', 30_000, async () =>
    (await core.readNamespacedServiceAccount({ name: 'default', namespace: TOOLS_NAMESPACE }).catch(() => undefined)) !== undefined);
}
