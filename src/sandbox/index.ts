/**
 * src/sandbox — runs shell and code steps: a command (or code) against a working copy
 * of a run's workspace, as a jailed or plain child process (./local.ts, ./execute.ts,
 * ./process.ts) or as a Kubernetes Job whose runner does the same (./kubernetes/).
 * It throws its own errors (./errors.ts) and reaches S3 only through the workspace
 * store it is given (`SandboxWorkspace`); it imports only shared and infra.
 *
 * This file builds the configured executor, and checks at start-up that it can do its job.
 */
import { AuthorizationV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { PreflightError, withTimeout } from '../infra/preflight.ts';
import type { Config, KubernetesSandboxConfig } from '../shared/config.ts';
import { Jail, JailUnavailableError } from './jail.ts';
import { loadKubeConfig, statusCode } from './kubernetes/api.ts';
import { KubernetesExecutor } from './kubernetes/executor.ts';
import { WORKING_COPY_MAX_BYTES } from './execute.ts';
import { LocalExecutor } from './local.ts';
import type { Executor, SandboxWorkspace } from './types.ts';


/**
 * The executor SANDBOX names, after checking it can work here: bubblewrap builds a
 * jail (local), or the Kubernetes API lets this worker manage Jobs (kubernetes).
 * Throws a PreflightError whose message is the one line to print.
 */
export async function createExecutor(config: Pick<Config, 'sandbox'>, workspace: SandboxWorkspace, log: Logger): Promise<Executor> {
  const sb = config.sandbox;
  // Files above the workspace's WORKSPACE_FILE_MAX_BYTES are not saved back, as the file tools refuse them.
  const limits = { maxWorkspaceBytes: WORKING_COPY_MAX_BYTES, maxFileBytes: workspace.fileMaxBytes };
  if (sb.kind === 'local') {
    let jail: Jail;
    try {
      jail = await Jail.open(sb.local);
    } catch (err) {
      if (!(err instanceof JailUnavailableError)) throw err;
      throw new PreflightError(`SANDBOX=local cannot isolate steps on this machine: ${err.message} (install bubblewrap and allow user namespaces — check with: unshare --user --map-root-user --pid --fork --net true — or set SANDBOX=unsafe-host to run steps as plain child processes that can read this worker's secrets)`, { cause: err });
    }
    return new LocalExecutor(workspace, limits, jail);
  }
  if (sb.kind === 'unsafe-host') {
    log.warn({ sandbox: 'unsafe-host' }, 'SANDBOX=unsafe-host: shell and code steps run as plain child processes of this worker, with its user, files, network and loopback services; a step can read this worker\'s secrets. Use only on a machine without user namespaces, for trusted prompts');
    return new LocalExecutor(workspace, limits, undefined);
  }
  await checkKubernetes(sb.kubernetes);
  return new KubernetesExecutor({ workspace, cfg: sb.kubernetes, log, ...limits });
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
