/**
 * Names and places of the test Kubernetes cluster, shared by its install, PKI,
 * control plane and cluster setup (and by tests): the namespaces and node it
 * creates, where its binaries, certificates, kubeconfigs and kwok files live.
 */
import { join } from 'node:path';
import type { StackPaths } from '../../context.ts';

/** The namespace tool pods run in (k8s/base/tools-namespace.yaml). */
export const TOOLS_NAMESPACE = 'agentrun-tools';
/** The worker's service account: its token is the worker's identity, so k8s/base/worker-rbac.yaml governs it. */
export const WORKER_SA = { namespace: 'agents', name: 'agentrun-worker' };
/** The kwok node tool pods land on. */
export const KWOK_NODE = 'kwok-node-0';

/** The control plane's binaries: <tools>/k8s/bin. */
export const kubeBinDir = (paths: StackPaths) => join(paths.tools, 'k8s', 'bin');
/** kustomize, which renders k8s/overlays/*: <tools>/k8s/bin/kustomize. */
export const kustomizeBin = (paths: StackPaths) => join(kubeBinDir(paths), 'kustomize');
export const kubectlBin = (paths: StackPaths) => join(kubeBinDir(paths), 'kubectl');
/** promtool, which checks and unit-tests the alerts of k8s/base/prometheus-rule.yaml: <tools>/k8s/bin/promtool. */
export const promtoolBin = (paths: StackPaths) => join(kubeBinDir(paths), 'promtool');
/** The prometheus-operator CRDs k8s/ uses (PrometheusRule, PodMonitor), which the test cluster serves. */
export const MONITORING_CRDS = ['prometheusrules', 'podmonitors'] as const;
/** One of them, as ./dev install takes it from the operator's Go module: <tools>/k8s/crds/<plural>.yaml. */
export const monitoringCrdFile = (paths: StackPaths, plural: typeof MONITORING_CRDS[number]) => join(paths.tools, 'k8s', 'crds', `${plural}.yaml`);
/** Its data (etcd, PKI, kubeconfigs, kwok files): <data>/k8s. */
export const kubeDir = (paths: StackPaths) => join(paths.data, 'k8s');
export const pkiDir = (paths: StackPaths) => join(kubeDir(paths), 'pki');

export function kubeconfigPath(paths: StackPaths, who: 'admin' | 'worker'): string {
  return join(kubeDir(paths), `${who}.kubeconfig`);
}

/**
 * What kwok serves as the log of every tool pod's `exec` container (CRI log format,
 * read to its end): kwok runs nothing, so a test writes here what a step "printed".
 * The apiserver reaches kwok's kubelet endpoint for pod logs like a kubelet's.
 */
export const kwokExecLog = (paths: StackPaths) => join(kubeDir(paths), 'kwok', 'exec.log');
