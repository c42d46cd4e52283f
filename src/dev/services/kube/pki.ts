/**
 * The test cluster's credentials, generated once under <data>/k8s/pki and never
 * committed: a CA, the apiserver's serving certificate, the service-account key
 * pair, two bearer tokens (an admin, and the worker's service account) and the
 * kubeconfigs that carry them.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST, type StackContext } from '../../context.ts';
import { run, StackError, which } from '../../proc.ts';
import { kubeconfigPath, pkiDir, TOOLS_NAMESPACE, WORKER_SA } from './layout.ts';

interface Tokens { admin: string; worker: string }

export function tokens(ctx: StackContext): Tokens {
  const file = join(pkiDir(ctx.paths), 'tokens.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Tokens;
  const t = { admin: randomBytes(24).toString('hex'), worker: randomBytes(24).toString('hex') };
  writeFileSync(file, JSON.stringify(t), { mode: 0o600 });
  return t;
}

export function ensurePki(ctx: StackContext): void {
  const pki = pkiDir(ctx.paths);
  mkdirSync(pki, { recursive: true, mode: 0o700 });
  const openssl = which('openssl');
  if (!openssl) throw new StackError('openssl is required to make the test cluster\'s certificates: apt-get install -y openssl');
  const f = (n: string) => join(pki, n);
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
  const t = tokens(ctx);
  // token,user,uid,"group1,group2": the worker authenticates as its service account, so k8s/base/worker-rbac.yaml governs it.
  writeFileSync(f('tokens.csv'), [
    `${t.admin},agentrun-admin,agentrun-admin,"system:masters"`,
    `${t.worker},system:serviceaccount:${WORKER_SA.namespace}:${WORKER_SA.name},${WORKER_SA.name},"system:serviceaccounts,system:serviceaccounts:${WORKER_SA.namespace}"`,
  ].join('\n') + '\n', { mode: 0o600 });
  for (const who of ['admin', 'worker'] as const) writeKubeconfig(ctx, who, t[who], who === 'worker' ? TOOLS_NAMESPACE : 'default');
}

function writeKubeconfig(ctx: StackContext, who: 'admin' | 'worker', token: string, namespace: string): void {
  const ca = readFileSync(join(pkiDir(ctx.paths), 'ca.crt')).toString('base64');
  writeFileSync(kubeconfigPath(ctx.paths, who), `apiVersion: v1
kind: Config
clusters:
- name: agentrun-test
  cluster:
    server: https://${HOST}:${ctx.ports.apiserver}
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
