/** The Kubernetes client pieces the executor and the start-up check share. */
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import type { KubernetesSandboxConfig } from '../../shared/config.ts';

export function loadKubeConfig(cfg: Pick<KubernetesSandboxConfig, 'kubeconfig'>): KubeConfig {
  const kc = new KubeConfig();
  if (cfg.kubeconfig) kc.loadFromFile(cfg.kubeconfig);
  else kc.loadFromCluster();
  return kc;
}

/** The HTTP status of a Kubernetes API error, when it has one. */
export function statusCode(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : (err as { code?: unknown })?.code === undefined ? undefined
    : typeof (err as { code: unknown }).code === 'number' ? (err as { code: number }).code : undefined;
}

/** The apiserver's reason of a Kubernetes API error (its Status `message`, the body parsed or not), else the error's message. */
export function apiMessage(err: unknown): string {
  if (!(err instanceof ApiException)) return String(err);
  let body: unknown = err.body;
  if (typeof body === 'string') {
    try { body = JSON.parse(body); } catch { /* not JSON: no Status in it */ }
  }
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : err.message;
}
