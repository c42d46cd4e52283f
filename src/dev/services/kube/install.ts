/**
 * Builds the test control plane once (cached in <tools>/k8s/bin, rebuilt only when
 * the pinned versions or tools/k8s/go.mod change): kube-apiserver,
 * kube-controller-manager and kube-scheduler and etcd from the Go wrapper module
 * tools/k8s, and kwok with `go install`; kustomize (which renders k8s/) with
 * `go install` too, and kubectl (the deploy guide's commands, run by its test) from the
 * wrapper module tools/kubectl; promtool (checks and unit-tests k8s/'s alerts) and the
 * prometheus-operator's PrometheusRule and PodMonitor CRDs, taken from its Go module.
 * Each is stamped apart, so a new one never rebuilds the rest.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT, type StackContext } from '../../context.ts';
import { log, run, StackError, which } from '../../proc.ts';
import { kubeBinDir, kubectlBin, kustomizeBin, MONITORING_CRDS, monitoringCrdFile, promtoolBin } from './layout.ts';

export const KUBE_VERSIONS = {
  kubernetes: 'v1.34.4', // k8s.io/kubernetes in tools/k8s/go.mod
  etcd: 'v3.6.8', // go.etcd.io/etcd/server/v3 in tools/k8s/go.mod
  kwok: 'v0.8.0', // go install sigs.k8s.io/kwok/cmd/kwok@…
} as const;

/** go install sigs.k8s.io/kustomize/kustomize/v5@… (@latest needs a newer Go than the pinned toolchain). */
export const KUSTOMIZE_VERSION = 'v5.8.2';

/**
 * go install github.com/prometheus/prometheus/cmd/promtool@… with the upstream build tag
 * that leaves out the service-discovery plugins (cloud SDKs): `check rules` and `test rules`
 * need none, and the build takes minutes less.
 */
export const PROMTOOL = { version: 'v0.316.0', tags: 'remove_all_sd' } as const;

/** github.com/prometheus-operator/prometheus-operator: its example/prometheus-operator-crd holds the CRDs. */
export const PROMETHEUS_OPERATOR_VERSION = 'v0.85.0';

const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'];

export function installKube(ctx: StackContext): void {
  installControlPlane(ctx);
  installKustomize(ctx);
  installKubectl(ctx);
  installPromtool(ctx);
  installMonitoringCrds(ctx);
}

const goEnv = (ctx: StackContext) => ({ ...ctx.env, GOPATH: join(ctx.paths.tools, 'go'), GOFLAGS: '-modcacherw', CGO_ENABLED: '0' });

/**
 * Runs `build` with the go binary unless every output exists and `stamp` holds `want`, then
 * writes the stamp: how each tool below is built once and rebuilt only when its pin changes.
 */
function buildOnce(o: { what: string; outputs: string[]; stamp: string; want: string; note: string; build: (go: string) => void }): void {
  if (o.outputs.every((f) => existsSync(f)) && existsSync(o.stamp) && readFileSync(o.stamp, 'utf8') === o.want) return;
  const go = which('go');
  if (!go) throw new StackError(`Go ≥ 1.24 is required to ${o.what}: install it from https://go.dev/dl`);
  mkdirSync(dirname(o.stamp), { recursive: true });
  log(o.note);
  o.build(go);
  writeFileSync(o.stamp, o.want);
}

function installKustomize(ctx: StackContext): void {
  const bin = kustomizeBin(ctx.paths);
  buildOnce({
    what: 'build kustomize', outputs: [bin], stamp: `${bin}.version`, want: KUSTOMIZE_VERSION,
    note: `building kustomize ${KUSTOMIZE_VERSION} with go install (first time only; about a minute)`,
    build: (go) => run(go, ['install', '-trimpath', '-ldflags', '-s -w', `sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}`],
      { env: { ...goEnv(ctx), GOBIN: kubeBinDir(ctx.paths) }, quiet: true, what: 'go install kustomize' }),
  });
}

/** kubectl at the control plane's version, from tools/kubectl (k8s.io/kubectl's command). */
function installKubectl(ctx: StackContext): void {
  const bin = kubectlBin(ctx.paths);
  buildOnce({
    what: 'build kubectl', outputs: [bin], stamp: `${bin}.version`,
    want: KUBE_VERSIONS.kubernetes + readFileSync(join(ROOT, 'tools', 'kubectl', 'go.mod'), 'utf8').length,
    note: `building kubectl ${KUBE_VERSIONS.kubernetes} from Go modules (first time only; 3–8 minutes on 2 cores)`,
    build: (go) => run(go, ['build', '-trimpath', '-o', bin, '-ldflags', `-s -w ${versionFlags(KUBE_VERSIONS.kubernetes)}`, '.'],
      { cwd: join(ROOT, 'tools', 'kubectl'), env: goEnv(ctx), quiet: true, what: 'go build kubectl' }),
  });
}

/** The -X flags that give a Kubernetes binary its version (`kubectl version`, the apiserver's /version). */
function versionFlags(v: string): string {
  const [major, minor] = v.slice(1).split('.');
  return `-X k8s.io/component-base/version.gitVersion=${v} -X k8s.io/component-base/version.gitMajor=${major} -X k8s.io/component-base/version.gitMinor=${minor}`;
}

function installPromtool(ctx: StackContext): void {
  const bin = promtoolBin(ctx.paths);
  buildOnce({
    what: 'build promtool', outputs: [bin], stamp: `${bin}.version`, want: JSON.stringify(PROMTOOL),
    note: `building promtool ${PROMTOOL.version} with go install (first time only; a few minutes on 2 cores)`,
    build: (go) => run(go, ['install', '-trimpath', '-tags', PROMTOOL.tags, '-ldflags', '-s -w', `github.com/prometheus/prometheus/cmd/promtool@${PROMTOOL.version}`],
      { env: { ...goEnv(ctx), GOBIN: kubeBinDir(ctx.paths) }, quiet: true, what: 'go install promtool' }),
  });
}

function installMonitoringCrds(ctx: StackContext): void {
  const files = MONITORING_CRDS.map((plural) => ({ plural, file: monitoringCrdFile(ctx.paths, plural) }));
  const module = `github.com/prometheus-operator/prometheus-operator@${PROMETHEUS_OPERATOR_VERSION}`;
  buildOnce({
    what: 'fetch the prometheus-operator CRDs', outputs: files.map((f) => f.file), stamp: join(dirname(files[0]!.file), '.version'),
    want: PROMETHEUS_OPERATOR_VERSION, note: `fetching the PrometheusRule and PodMonitor CRDs from ${module}`,
    build: (go) => {
      const out = run(go, ['mod', 'download', '-json', module], { env: goEnv(ctx), quiet: true, what: `go mod download ${module}` });
      const dir = (JSON.parse(out) as { Dir?: string }).Dir;
      if (!dir) throw new StackError(`go mod download ${module} named no directory: ${out.slice(0, 500)}`);
      for (const { plural, file } of files) {
        rmSync(file, { force: true }); // the module cache's files are read-only, and so was the copy
        copyFileSync(join(dir, 'example', 'prometheus-operator-crd', `monitoring.coreos.com_${plural}.yaml`), file);
        chmodSync(file, 0o644);
      }
    },
  });
}

function installControlPlane(ctx: StackContext): void {
  const bin = kubeBinDir(ctx.paths);
  const module = join(ROOT, 'tools', 'k8s');
  const v = KUBE_VERSIONS.kubernetes;
  buildOnce({
    what: 'build the Kubernetes control plane', outputs: BINARIES.map((n) => join(bin, n)), stamp: join(bin, '.versions'),
    want: JSON.stringify(KUBE_VERSIONS) + readFileSync(join(module, 'go.mod'), 'utf8').length,
    note: `building kube-apiserver, kube-controller-manager, kube-scheduler ${v} from Go modules (first time only; about 7 minutes on 2 cores)`,
    build: (go) => {
      const env = goEnv(ctx);
      run(go, ['build', '-trimpath', '-o', `${bin}/`, '-ldflags', `-s -w ${versionFlags(v)}`,
        'k8s.io/kubernetes/cmd/kube-apiserver', 'k8s.io/kubernetes/cmd/kube-controller-manager', 'k8s.io/kubernetes/cmd/kube-scheduler'],
      { cwd: module, env, quiet: true, what: 'go build kube-apiserver …' });
      log(`building etcd ${KUBE_VERSIONS.etcd}`);
      run(go, ['build', '-trimpath', '-o', join(bin, 'etcd'), '-ldflags', '-s -w', 'go.etcd.io/etcd/server/v3'],
        { cwd: module, env, quiet: true, what: 'go build etcd' });
      log(`building kwok ${KUBE_VERSIONS.kwok}`);
      run(go, ['install', '-trimpath', '-ldflags', '-s -w', `sigs.k8s.io/kwok/cmd/kwok@${KUBE_VERSIONS.kwok}`],
        { env: { ...env, GOBIN: bin }, quiet: true, what: 'go install kwok' });
    },
  });
}
