/**
 * The Kubernetes control plane the tests run against: etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler built from their Go modules
 * (tools/k8s is the wrapper module), and kwok simulating nodes and pod phases
 * (stages in kube-stages.yaml). Loopback only; certificates, keys and tokens
 * are generated under .data/ and never committed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { DATA, LOGS, ROOT, STATE, TOOLS } from './paths.ts';
import { envPort as port, readPid, run, StackError, startDetached, stopPid, waitFor, which } from './proc.ts';

export const KUBE_VERSIONS = {
  kubernetes: 'v1.34.4', // k8s.io/kubernetes in tools/k8s/go.mod
  etcd: 'v3.6.8', // go.etcd.io/etcd/server/v3 in tools/k8s/go.mod
  kwok: 'v0.8.0', // go install sigs.k8s.io/kwok/cmd/kwok@…
} as const;

export const KUBE_PORTS = {
  etcd: port('AGENTRUN_ETCD_PORT', 12379),
  etcdPeer: port('AGENTRUN_ETCD_PEER_PORT', 12380),
  apiserver: port('AGENTRUN_KUBE_APISERVER_PORT', 16443),
  controllerManager: port('AGENTRUN_KUBE_CM_PORT', 16444),
  scheduler: port('AGENTRUN_KUBE_SCHEDULER_PORT', 16445),
  kwok: port('AGENTRUN_KWOK_PORT', 16446),
};
const HOST = '127.0.0.1';
const BIN = join(TOOLS, 'k8s', 'bin');
const DIR = join(DATA, 'k8s');
const PKI = join(DIR, 'pki');
export const TOOLS_NAMESPACE = 'agentrun-tools';

/**
 * What kwok serves as the log of every tool pod's `exec` container (CRI log format,
 * read to its end): kwok runs nothing, so a test writes here what a step "printed".
 * The apiserver reaches kwok's kubelet endpoint for pod logs like a kubelet's.
 */
export const KWOK_EXEC_LOG = join(DIR, 'kwok', 'exec.log');

/** kwok's ClusterLogs: the tools namespace's exec containers log KWOK_EXEC_LOG. */
function writeKwokLogsConfig(): string {
  mkdirSync(join(DIR, 'kwok'), { recursive: true });
  if (!existsSync(KWOK_EXEC_LOG)) writeFileSync(KWOK_EXEC_LOG, '');
  const file = join(DIR, 'kwok', 'logs.yaml');
  writeFileSync(file, `kind: ClusterLogs
apiVersion: kwok.x-k8s.io/v1alpha1
metadata:
  name: agentrun-exec-logs
spec:
  selector:
    matchNamespaces: [${TOOLS_NAMESPACE}]
  logs:
  - containers: [exec]
    logsFile: ${JSON.stringify(KWOK_EXEC_LOG)}
    follow: false
`);
  return file;
}
export const WORKER_SA = { namespace: 'agents', name: 'agentrun-worker' };
/** The kwok node tool pods land on. */
export const KWOK_NODE = 'kwok-node-0';

const log = (msg: string) => process.stderr.write(`[stack] ${msg}\n`);
const pidFile = (name: string) => join(STATE, `${name}.pid`);
const logFile = (name: string) => join(LOGS, `${name}.log`);
const bin = (name: string) => join(BIN, name);

// ---------- install (cached: rebuilt only when the pinned versions change) ----------
function goEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GOPATH: join(TOOLS, 'go'), GOFLAGS: '-modcacherw', CGO_ENABLED: '0' };
}

export function installKube(): void {
  const go = which('go');
  const stamp = join(BIN, '.versions');
  const want = JSON.stringify(KUBE_VERSIONS) + readFileSync(join(ROOT, 'tools', 'k8s', 'go.mod'), 'utf8').length;
  const names = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'];
  if (names.every((n) => existsSync(bin(n))) && existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
  if (!go) throw new StackError('Go ≥ 1.24 is required to build the Kubernetes control plane: install it from https://go.dev/dl');
  mkdirSync(BIN, { recursive: true });
  const module = join(ROOT, 'tools', 'k8s');
  const v = KUBE_VERSIONS.kubernetes;
  const [major, minor] = v.slice(1).split('.');
  log(`building kube-apiserver, kube-controller-manager, kube-scheduler ${v} from Go modules (first time only; about 7 minutes on 2 cores)`);
  run(go, ['build', '-trimpath', '-o', `${BIN}/`, '-ldflags',
    `-s -w -X k8s.io/component-base/version.gitVersion=${v} -X k8s.io/component-base/version.gitMajor=${major} -X k8s.io/component-base/version.gitMinor=${minor}`,
    'k8s.io/kubernetes/cmd/kube-apiserver', 'k8s.io/kubernetes/cmd/kube-controller-manager', 'k8s.io/kubernetes/cmd/kube-scheduler'],
  { cwd: module, env: goEnv(), quiet: true, what: 'go build kube-apiserver …' });
  log(`building etcd ${KUBE_VERSIONS.etcd}`);
  run(go, ['build', '-trimpath', '-o', bin('etcd'), '-ldflags', '-s -w', 'go.etcd.io/etcd/server/v3'],
    { cwd: module, env: goEnv(), quiet: true, what: 'go build etcd' });
  log(`building kwok ${KUBE_VERSIONS.kwok}`);
  run(go, ['install', '-trimpath', '-ldflags', '-s -w', `sigs.k8s.io/kwok/cmd/kwok@${KUBE_VERSIONS.kwok}`],
    { env: { ...goEnv(), GOBIN: BIN }, quiet: true, what: 'go install kwok' });
  writeFileSync(stamp, want);
}

// ---------- certificates, keys, tokens ----------
interface Tokens { admin: string; worker: string }
function tokens(): Tokens {
  const file = join(PKI, 'tokens.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Tokens;
  const t = { admin: randomBytes(24).toString('hex'), worker: randomBytes(24).toString('hex') };
  writeFileSync(file, JSON.stringify(t), { mode: 0o600 });
  return t;
}

function ensurePki(): void {
  mkdirSync(PKI, { recursive: true, mode: 0o700 });
  const openssl = which('openssl');
  if (!openssl) throw new StackError('openssl is required to make the test cluster\'s certificates: apt-get install -y openssl');
  const f = (n: string) => join(PKI, n);
  if (!existsSync(f('ca.crt'))) {
    run(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '3650', '-subj', '/CN=agentrun-test-ca'], { quiet: true, what: 'openssl ca' });
  }
  if (!existsSync(f('apiserver.crt'))) {
    writeFileSync(f('apiserver.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n');
    run(openssl, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('apiserver.key'), '-out', f('apiserver.csr'), '-subj', '/CN=kube-apiserver'], { quiet: true, what: 'openssl csr' });
    run(openssl, ['x509', '-req', '-in', f('apiserver.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('apiserver.crt'), '-days', '3650', '-extfile', f('apiserver.ext')], { quiet: true, what: 'openssl sign' });
  }
  if (!existsSync(f('sa.key'))) {
    run(openssl, ['genrsa', '-out', f('sa.key'), '2048'], { quiet: true, what: 'openssl genrsa' });
    run(openssl, ['rsa', '-in', f('sa.key'), '-pubout', '-out', f('sa.pub')], { quiet: true, what: 'openssl rsa -pubout' });
  }
  const t = tokens();
  // token,user,uid,"group1,group2": the worker authenticates as its service account, so k8s/worker-rbac.yaml governs it.
  writeFileSync(f('tokens.csv'), [
    `${t.admin},agentrun-admin,agentrun-admin,"system:masters"`,
    `${t.worker},system:serviceaccount:${WORKER_SA.namespace}:${WORKER_SA.name},${WORKER_SA.name},"system:serviceaccounts,system:serviceaccounts:${WORKER_SA.namespace}"`,
  ].join('\n') + '\n', { mode: 0o600 });
  for (const who of ['admin', 'worker'] as const) writeKubeconfig(kubeconfigPath(who), t[who], who === 'worker' ? TOOLS_NAMESPACE : 'default');
}

export function kubeconfigPath(who: 'admin' | 'worker'): string {
  return join(DIR, `${who}.kubeconfig`);
}

function writeKubeconfig(file: string, token: string, namespace: string): void {
  const ca = readFileSync(join(PKI, 'ca.crt')).toString('base64');
  writeFileSync(file, `apiVersion: v1
kind: Config
clusters:
- name: agentrun-test
  cluster:
    server: https://${HOST}:${KUBE_PORTS.apiserver}
    certificate-authority-data: ${ca}
users:
- name: user
  user:
    token: ${token}
contexts:
- name: agentrun-test
  context: { cluster: agentrun-test, user: user, namespace: ${namespace} }
current-context: agentrun-test
`, { mode: 0o600 });
}

// ---------- health ----------
// The apiserver's certificate is signed by our CA; the controller-manager and scheduler serve
// self-signed ones on loopback, whose /healthz is all we read.
let apiAgent: Agent | undefined;
let componentAgent: Agent | undefined;
async function getHealthz(url: string, auth = true): Promise<boolean> {
  apiAgent ??= new Agent({ connect: { ca: readFileSync(join(PKI, 'ca.crt')) } });
  componentAgent ??= new Agent({ connect: { rejectUnauthorized: false } });
  const r = await undiciFetch(url, {
    dispatcher: url.includes(`:${KUBE_PORTS.apiserver}/`) ? apiAgent : componentAgent, signal: AbortSignal.timeout(2000),
    headers: auth ? { authorization: `Bearer ${tokens().admin}` } : {},
  }).catch(() => undefined);
  return r?.status === 200;
}
const apiReady = () => getHealthz(`https://${HOST}:${KUBE_PORTS.apiserver}/readyz`);
const etcdHealthy = async () => (await fetch(`http://${HOST}:${KUBE_PORTS.etcd}/health`).catch(() => undefined))?.ok === true;

export async function kubeHealthy(): Promise<boolean> {
  if (!existsSync(join(PKI, 'ca.crt'))) return false;
  const checks = await Promise.all([
    etcdHealthy(), apiReady(),
    getHealthz(`https://${HOST}:${KUBE_PORTS.controllerManager}/healthz`, false),
    getHealthz(`https://${HOST}:${KUBE_PORTS.scheduler}/healthz`, false),
    fetch(`http://${HOST}:${KUBE_PORTS.kwok}/healthz`).then((r) => r.ok, () => false),
  ]);
  return checks.every(Boolean);
}

// ---------- up / down ----------
const COMPONENTS = ['kwok', 'kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd'] as const;

async function startIfDown(name: string, args: string[], healthy: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  if (readPid(pidFile(name)) && (await healthy())) return;
  await stopPid(pidFile(name));
  if (!existsSync(bin(name))) throw new StackError(`${name} is not built: run ./dev install`);
  startDetached(bin(name), args, { logFile: logFile(name), pidFile: pidFile(name) });
  await waitFor(name, timeoutMs, healthy, `see ${logFile(name)}`);
}

export async function upKube(): Promise<void> {
  mkdirSync(DIR, { recursive: true });
  ensurePki();
  const p = (n: string) => join(PKI, n);
  await startIfDown('etcd', [
    '--name', 'agentrun', '--data-dir', join(DIR, 'etcd'),
    '--listen-client-urls', `http://${HOST}:${KUBE_PORTS.etcd}`, '--advertise-client-urls', `http://${HOST}:${KUBE_PORTS.etcd}`,
    '--listen-peer-urls', `http://${HOST}:${KUBE_PORTS.etcdPeer}`, '--initial-advertise-peer-urls', `http://${HOST}:${KUBE_PORTS.etcdPeer}`,
    '--initial-cluster', `agentrun=http://${HOST}:${KUBE_PORTS.etcdPeer}`,
    '--listen-metrics-urls', '', '--log-level', 'warn', '--unsafe-no-fsync', '--quota-backend-bytes', String(2 << 30),
  ], etcdHealthy);
  await startIfDown('kube-apiserver', [
    `--etcd-servers=http://${HOST}:${KUBE_PORTS.etcd}`,
    `--bind-address=${HOST}`, `--advertise-address=${HOST}`, `--secure-port=${KUBE_PORTS.apiserver}`,
    `--tls-cert-file=${p('apiserver.crt')}`, `--tls-private-key-file=${p('apiserver.key')}`, `--client-ca-file=${p('ca.crt')}`,
    `--token-auth-file=${p('tokens.csv')}`, '--authorization-mode=RBAC', '--anonymous-auth=false',
    '--service-cluster-ip-range=10.96.0.0/16',
    '--service-account-issuer=https://kubernetes.default.svc', `--service-account-key-file=${p('sa.pub')}`,
    `--service-account-signing-key-file=${p('sa.key')}`,
    // Loopback cannot be the `kubernetes` Service's endpoint; nothing in the cluster needs it.
    '--endpoint-reconciler-type=none',
    '--kubelet-preferred-address-types=InternalIP',
    '--allow-privileged=false', '--profiling=false', '--v=0',
  ], apiReady, 120_000);
  await startIfDown('kube-controller-manager', [
    `--kubeconfig=${kubeconfigPath('admin')}`, `--authentication-kubeconfig=${kubeconfigPath('admin')}`, `--authorization-kubeconfig=${kubeconfigPath('admin')}`,
    '--leader-elect=false', `--bind-address=${HOST}`, `--secure-port=${KUBE_PORTS.controllerManager}`,
    `--service-account-private-key-file=${p('sa.key')}`, `--root-ca-file=${p('ca.crt')}`,
    '--use-service-account-credentials=false', '--profiling=false', '--v=0',
  ], () => getHealthz(`https://${HOST}:${KUBE_PORTS.controllerManager}/healthz`, false));
  await startIfDown('kube-scheduler', [
    `--kubeconfig=${kubeconfigPath('admin')}`, `--authentication-kubeconfig=${kubeconfigPath('admin')}`, `--authorization-kubeconfig=${kubeconfigPath('admin')}`,
    '--leader-elect=false', `--bind-address=${HOST}`, `--secure-port=${KUBE_PORTS.scheduler}`, '--profiling=false', '--v=0',
  ], () => getHealthz(`https://${HOST}:${KUBE_PORTS.scheduler}/healthz`, false));
  // kwok's server is also the node's kubelet endpoint (HTTPS, with the apiserver's certificate),
  // so `pods/log` works through the apiserver.
  await startIfDown('kwok', [
    `--kubeconfig=${kubeconfigPath('admin')}`, `--config=${join(ROOT, 'src', 'dev', 'kube-stages.yaml')}`, `--config=${writeKwokLogsConfig()}`,
    '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
    `--server-address=${HOST}:${KUBE_PORTS.kwok}`, `--node-ip=${HOST}`, `--node-port=${KUBE_PORTS.kwok}`, '--cidr=10.244.0.0/16',
    `--tls-cert-file=${p('apiserver.crt')}`, `--tls-private-key-file=${p('apiserver.key')}`,
  ], () => fetch(`http://${HOST}:${KUBE_PORTS.kwok}/healthz`).then((r) => r.ok, () => false));
  const { prepareCluster } = await import('./kube-setup.ts');
  await prepareCluster();
}

export async function downKube(): Promise<boolean> {
  let any = false;
  for (const name of COMPONENTS) any = (await stopPid(pidFile(name))) || any;
  return any;
}

export function kubeWhere(): string {
  return `https://${HOST}:${KUBE_PORTS.apiserver} (${KUBE_VERSIONS.kubernetes}, kwok node ${KWOK_NODE}), kubeconfig ${kubeconfigPath('admin')}`;
}
