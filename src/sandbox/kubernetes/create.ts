/**
 * The SANDBOX=kubernetes executor, after checking at start-up that the API answers, the
 * tools namespace exists and this worker may create, watch and delete Jobs there.
 * ../index.ts imports this module only for SANDBOX=kubernetes (the client is slow to load).
 */
import { AuthorizationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { PreflightError, withTimeout } from '../../infra/preflight.ts';
import type { KubernetesSandboxConfig } from '../../shared/config.ts';
import { loadKubeConfig, statusCode } from './api.ts';
import { KubernetesExecutor, type KubernetesExecutorDeps } from './executor.ts';

/** Checks the cluster (a PreflightError whose message is the one line to print), then builds the executor. */
export async function createKubernetesExecutor(deps: KubernetesExecutorDeps): Promise<KubernetesExecutor> {
  await checkKubernetes(deps.cfg);
  return new KubernetesExecutor(deps);
}

/** For SANDBOX=kubernetes: the API answers, the tools namespace exists, and we may create, watch and delete Jobs there. */
async function checkKubernetes(k: KubernetesSandboxConfig, timeoutMs = 10_000): Promise<void> {
  let kc;
  try {
    kc = loadKubeConfig(k);
  } catch (err) {
    throw new PreflightError(`SANDBOX=kubernetes but no Kubernetes credentials: ${(err as Error).message} (set K8S_KUBECONFIG, or run in a pod with a service account)`, { cause: err });
  }
  const server = kc.getCurrentCluster()?.server ?? 'in-cluster';
  try {
    await withTimeout('kubernetes namespace', timeoutMs, kc.makeApiClient(CoreV1Api).readNamespace({ name: k.namespace }));
  } catch (err) {
    const code = statusCode(err);
    if (code === 404) throw new PreflightError(`Kubernetes namespace ${k.namespace} does not exist at ${server} (apply k8s/tools-namespace.yaml, or set K8S_NAMESPACE)`, { cause: err });
    // 403 on reading the namespace is fine (the worker's Role is namespaced); the access review below decides.
    if (code !== 403) throw new PreflightError(`Kubernetes API at ${server} is unreachable: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const authz = kc.makeApiClient(AuthorizationV1Api);
  for (const verb of ['create', 'watch', 'delete']) {
    const review = await withTimeout('kubernetes access review', timeoutMs, authz.createSelfSubjectAccessReview({
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { namespace: k.namespace, verb, group: 'batch', resource: 'jobs' } } },
    }));
    if (!review.status?.allowed) {
      throw new PreflightError(`Kubernetes at ${server} does not allow this worker to ${verb} jobs in namespace ${k.namespace} (apply k8s/worker-rbac.yaml)`);
    }
  }
}
