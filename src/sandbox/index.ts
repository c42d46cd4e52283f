/** Builds the configured executor, and checks at start-up that it can do its job. */
import type { S3Client } from '@aws-sdk/client-s3';
import { AuthorizationV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { PreflightError, withTimeout } from '../infra/preflight.ts';
import type { Config } from '../shared/config.ts';
import { KubernetesExecutor, loadKubeConfig, statusCode } from './kubernetes/executor.ts';
import { LocalExecutor } from './local.ts';
import type { Executor } from './types.ts';

/** Workspace limits of one execution (pull and push). */
export const SANDBOX_SYNC_LIMITS = { maxWorkspaceBytes: 1 << 30, maxFileBytes: 100 << 20 };

export function createExecutor(config: Pick<Config, 'sandbox' | 's3'>, s3: S3Client, log: Logger): Executor {
  if (config.sandbox.kind === 'local') return new LocalExecutor(s3, config.s3.bucket, SANDBOX_SYNC_LIMITS);
  return new KubernetesExecutor({ s3, bucket: config.s3.bucket, cfg: config.sandbox.kubernetes, log, ...SANDBOX_SYNC_LIMITS });
}

/** For SANDBOX=kubernetes: the API answers, the tools namespace exists, and we may create, watch and delete Jobs there. */
export async function checkSandbox(config: Pick<Config, 'sandbox'>, timeoutMs = 10_000): Promise<void> {
  if (config.sandbox.kind !== 'kubernetes') return;
  const k = config.sandbox.kubernetes;
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
