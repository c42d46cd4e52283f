/**
 * The test Kubernetes cluster as one stack service: its control plane built from
 * Go modules (install.ts), credentials (pki.ts), processes (control-plane.ts) and
 * the production-like setup applied to it (cluster.ts). Loopback only.
 */
import { HOST } from '../../context.ts';
import type { Service } from '../service.ts';
import { prepareCluster } from './cluster.ts';
import { controlPlaneHealthy, startControlPlane, stopControlPlane } from './control-plane.ts';

export { controlPlaneStarted as kubeStarted } from './control-plane.ts';
import { installKube, KUBE_VERSIONS } from './install.ts';
import { kubeconfigPath, KWOK_NODE } from './layout.ts';

export const kubernetes: Service = {
  name: 'kubernetes',
  install: installKube,
  async start(ctx) {
    await startControlPlane(ctx);
    await prepareCluster(ctx);
  },
  healthy: controlPlaneHealthy,
  stop: stopControlPlane,
  where: (ctx) => `https://${HOST}:${ctx.ports.apiserver} (${KUBE_VERSIONS.kubernetes}, kwok node ${KWOK_NODE}), kubeconfig ${kubeconfigPath(ctx.paths, 'admin')}`,
};
