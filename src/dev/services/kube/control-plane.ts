/**
 * The test cluster's processes on loopback: etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, and kwok simulating nodes and pod phases
 * (its stages in src/dev/kube-stages.yaml, its exec logs from layout.ts's
 * kwokExecLog). Starts each unless it is healthy, checks them, stops them.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { HOST, ROOT, type StackContext } from '../../context.ts';
import { readPid, StackError, startDetached, stopPid, waitFor } from '../../proc.ts';
import { logFile, pidFile } from '../service.ts';
import { ensurePki, tokens } from './pki.ts';
import { kubeBinDir, kubeconfigPath, kubeDir, kwokExecLog, pkiDir, TOOLS_NAMESPACE } from './layout.ts';

/** In stop order. */
const COMPONENTS = ['kwok', 'kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd'] as const;

/** kwok's ClusterLogs: the tools namespace's exec containers log kwokExecLog(). */
function writeKwokLogsConfig(ctx: StackContext): string {
  const execLog = kwokExecLog(ctx.paths);
  mkdirSync(join(kubeDir(ctx.paths), 'kwok'), { recursive: true });
  if (!existsSync(execLog)) writeFileSync(execLog, '');
  const file = join(kubeDir(ctx.paths), 'kwok', 'logs.yaml');
  writeFileSync(file, `kind: ClusterLogs
apiVersion: kwok.x-k8s.io/v1alpha1
metadata:
  name: agentrun-exec-logs
spec:
  selector:
    matchNamespaces: [${TOOLS_NAMESPACE}]
  logs:
  - containers: [exec]
    logsFile: ${JSON.stringify(execLog)}
    follow: false
`);
  return file;
}

// The apiserver's certificate is signed by our CA; the controller-manager and scheduler serve
// self-signed ones on loopback, whose /healthz is all we read.
let agents: { api: Agent; component: Agent } | undefined;
async function getHealthz(ctx: StackContext, url: string, auth = true): Promise<boolean> {
  agents ??= {
    api: new Agent({ connect: { ca: readFileSync(join(pkiDir(ctx.paths), 'ca.crt')) } }),
    component: new Agent({ connect: { rejectUnauthorized: false } }),
  };
  const r = await undiciFetch(url, {
    dispatcher: url.includes(`:${ctx.ports.apiserver}/`) ? agents.api : agents.component, signal: AbortSignal.timeout(2000),
    headers: auth ? { authorization: `Bearer ${tokens(ctx).admin}` } : {},
  }).catch(() => undefined);
  return r?.status === 200;
}
const apiReady = (ctx: StackContext) => getHealthz(ctx, `https://${HOST}:${ctx.ports.apiserver}/readyz`);
const cmHealthy = (ctx: StackContext) => getHealthz(ctx, `https://${HOST}:${ctx.ports.controllerManager}/healthz`, false);
const schedulerHealthy = (ctx: StackContext) => getHealthz(ctx, `https://${HOST}:${ctx.ports.scheduler}/healthz`, false);
const etcdHealthy = async (ctx: StackContext) => (await fetch(`http://${HOST}:${ctx.ports.etcd}/health`).catch(() => undefined))?.ok === true;
const kwokHealthy = (ctx: StackContext) => fetch(`http://${HOST}:${ctx.ports.kwok}/healthz`).then((r) => r.ok, () => false);

export async function controlPlaneHealthy(ctx: StackContext): Promise<boolean> {
  if (!existsSync(join(pkiDir(ctx.paths), 'ca.crt'))) return false;
  const checks = await Promise.all([etcdHealthy(ctx), apiReady(ctx), cmHealthy(ctx), schedulerHealthy(ctx), kwokHealthy(ctx)]);
  return checks.every(Boolean);
}

async function startIfDown(ctx: StackContext, name: string, args: string[], healthy: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const pid = pidFile(ctx, name);
  const logs = logFile(ctx, name);
  const bin = join(kubeBinDir(ctx.paths), name);
  if (readPid(pid) && (await healthy())) return;
  await stopPid(pid);
  if (!existsSync(bin)) throw new StackError(`${name} is not built: run ./dev install --kube`);
  startDetached(bin, args, { logFile: logs, pidFile: pid });
  await waitFor(name, timeoutMs, healthy, `see ${logs}`);
}

export async function startControlPlane(ctx: StackContext): Promise<void> {
  const dir = kubeDir(ctx.paths);
  const { ports } = ctx;
  mkdirSync(dir, { recursive: true });
  ensurePki(ctx);
  const p = (n: string) => join(pkiDir(ctx.paths), n);
  const admin = kubeconfigPath(ctx.paths, 'admin');
  await startIfDown(ctx, 'etcd', [
    '--name', 'agentrun', '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://${HOST}:${ports.etcd}`, '--advertise-client-urls', `http://${HOST}:${ports.etcd}`,
    '--listen-peer-urls', `http://${HOST}:${ports.etcdPeer}`, '--initial-advertise-peer-urls', `http://${HOST}:${ports.etcdPeer}`,
    '--initial-cluster', `agentrun=http://${HOST}:${ports.etcdPeer}`,
    '--listen-metrics-urls', '', '--log-level', 'warn', '--unsafe-no-fsync', '--quota-backend-bytes', String(2 << 30),
  ], () => etcdHealthy(ctx));
  await startIfDown(ctx, 'kube-apiserver', [
    `--etcd-servers=http://${HOST}:${ports.etcd}`,
    `--bind-address=${HOST}`, `--advertise-address=${HOST}`, `--secure-port=${ports.apiserver}`,
    `--tls-cert-file=${p('apiserver.crt')}`, `--tls-private-key-file=${p('apiserver.key')}`, `--client-ca-file=${p('ca.crt')}`,
    `--token-auth-file=${p('tokens.csv')}`, '--authorization-mode=RBAC', '--anonymous-auth=false',
    '--service-cluster-ip-range=10.96.0.0/16',
    '--service-account-issuer=https://kubernetes.default.svc', `--service-account-key-file=${p('sa.pub')}`,
    `--service-account-signing-key-file=${p('sa.key')}`,
    // Loopback cannot be the `kubernetes` Service's endpoint; nothing in the cluster needs it.
    '--endpoint-reconciler-type=none',
    '--kubelet-preferred-address-types=InternalIP',
    '--allow-privileged=false', '--profiling=false', '--v=0',
  ], () => apiReady(ctx), 120_000);
  await startIfDown(ctx, 'kube-controller-manager', [
    `--kubeconfig=${admin}`, `--authentication-kubeconfig=${admin}`, `--authorization-kubeconfig=${admin}`,
    '--leader-elect=false', `--bind-address=${HOST}`, `--secure-port=${ports.controllerManager}`,
    `--service-account-private-key-file=${p('sa.key')}`, `--root-ca-file=${p('ca.crt')}`,
    '--use-service-account-credentials=false', '--profiling=false', '--v=0',
    // The node is kwok's, on a machine the whole test suite shares: when kwok's heartbeat came
    // late under full load (once, 2026-12-02), the default 50 s grace marked the node and every
    // pod on it NotReady and a deployment's rollout never finished. Nothing here tests node loss.
    '--node-monitor-grace-period=10m',
  ], () => cmHealthy(ctx));
  await startIfDown(ctx, 'kube-scheduler', [
    `--kubeconfig=${admin}`, `--authentication-kubeconfig=${admin}`, `--authorization-kubeconfig=${admin}`,
    '--leader-elect=false', `--bind-address=${HOST}`, `--secure-port=${ports.scheduler}`, '--profiling=false', '--v=0',
  ], () => schedulerHealthy(ctx));
  // kwok's server is also the node's kubelet endpoint (HTTPS, with the apiserver's certificate),
  // so `pods/log` works through the apiserver.
  await startIfDown(ctx, 'kwok', [
    `--kubeconfig=${admin}`, `--config=${join(ROOT, 'src', 'dev', 'kube-stages.yaml')}`, `--config=${writeKwokLogsConfig(ctx)}`,
    '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
    `--server-address=${HOST}:${ports.kwok}`, `--node-ip=${HOST}`, `--node-port=${ports.kwok}`, '--cidr=10.244.0.0/16',
    `--tls-cert-file=${p('apiserver.crt')}`, `--tls-private-key-file=${p('apiserver.key')}`,
  ], () => kwokHealthy(ctx));
}

/** Whether the stack started the control plane (a pid file left: a crashed component too), so it is expected up. */
export function controlPlaneStarted(ctx: StackContext): boolean {
  return COMPONENTS.some((name) => existsSync(pidFile(ctx, name)));
}

export async function stopControlPlane(ctx: StackContext): Promise<boolean> {
  let any = false;
  for (const name of COMPONENTS) any = (await stopPid(pidFile(ctx, name))) || any;
  return any;
}
