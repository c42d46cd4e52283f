/**
 * The Kubernetes executor against a real control plane: kube-apiserver,
 * controller-manager and scheduler built from Go modules, etcd, and kwok
 * nodes (./dev up --kube). kwok runs no containers, so test/helpers/kube-sim.ts runs
 * each Job's containers with the env they carry: from the runner image with
 * podman (the pod's user, read-only root, capabilities, limits, volumes, and
 * S3 as the only network, as the tools NetworkPolicy allows) when podman and
 * the image exist (`./dev image`), else the runner's code on this machine (CI;
 * or AGENTRUN_PODSIM=host); the suite's name says which. Command semantics are
 * covered by the local executor's tests.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  AuthorizationV1Api, BatchV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type KubernetesObject, type V1Job, type V1NetworkPolicy,
} from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { stackPaths } from '../../src/dev/context.ts';
import { applyObjects, buildOverlay, clusterManifests } from '../../src/dev/services/kube/cluster.ts';
import { kwokExecLog } from '../../src/dev/services/kube/layout.ts';
import { createLogger } from '../../src/infra/logger.ts';
import { stepFailure } from '../../src/activities/errors.ts';
import { SandboxDeadlineExceeded, SandboxFailed } from '../../src/sandbox/errors.ts';
import { KubernetesExecutor } from '../../src/sandbox/kubernetes/executor.ts';
import { buildJobManifest, jobName, jobSelector } from '../../src/sandbox/kubernetes/manifest.ts';
import type { SandboxRequest } from '../../src/sandbox/types.ts';
import { loadConfig, type KubernetesSandboxConfig } from '../../src/shared/config.ts';
import { s3Keys } from '../../src/shared/names.ts';
import { newRunId } from '../../src/runs/ids.ts';
import { WorkspaceStore } from '../../src/workspace/store.ts';
import { boot, assertRefused } from '../helpers/boot.ts';
import { podSimulatorMode, startPodSimulator, type PodSimulator } from '../helpers/kube-sim.ts';
import { connectClients, kubeStackEnv, newUser, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';
import { createRun } from '../helpers/runs.ts';

const NS = 'agentrun-tools';
const simMode = podSimulatorMode();
// `./dev test --deploy` builds the images first: there, the host runner would be a silent downgrade.
if (process.env.AGENTRUN_REQUIRE_IMAGES === '1' && simMode.mode !== 'podman') throw new Error(`AGENTRUN_REQUIRE_IMAGES=1 but the pod simulator cannot use the runner image: ${simMode.why}`);
const inImage = simMode.mode === 'podman' ? false : `pods run on the host (${simMode.why}): no image, securityContext or network to check`;

/** What connecting to host:port gives: `connected` or the error's code. */
function reach(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 5000 });
    s.once('connect', () => { s.destroy(); resolve('connected'); });
    s.once('timeout', () => { s.destroy(); resolve('timeout'); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** Whether an IPv4 address lies in a CIDR block. */
function cidrContains(cidr: string, ip: string): boolean {
  const [base, bits] = cidr.split('/') as [string, string];
  const num = (a: string) => a.split('.').reduce((n, o) => (n * 256) + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(num(ip) / size) === Math.floor(num(base) / size);
}

/** What kwok serves as every exec container's log, as a kubelet would (CRI log format). */
function podPrints(lines: [stream: 'stdout' | 'stderr', text: string][]): void {
  writeFileSync(kwokExecLog(stackPaths(process.env)), lines.map(([stream, text]) => `${new Date().toISOString()} ${stream} F ${text}\n`).join(''));
}

function kubeConfig(file: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

function k8sConfig(env: Record<string, string>, extra: Record<string, string> = {}): KubernetesSandboxConfig {
  const cfg = loadConfig({ ...env, SANDBOX: 'kubernetes', ...extra }).sandbox;
  assert.equal(cfg.kind, 'kubernetes');
  return cfg.kubernetes;
}

describe(`kubernetes executor (real apiserver + kwok; pods ${simMode.mode === 'podman' ? 'from the runner image with podman' : `on the host: ${simMode.why}`})`, { timeout: 600_000 }, () => {
  let c: Clients;
  let env: Record<string, string>;
  let admin: KubeConfig;
  let worker: KubeConfig;
  let sim: PodSimulator;
  const log = createLogger('silent', 'test');

  before(async () => {
    c = await connectClients();
    const kenv = kubeStackEnv();
    env = kenv;
    admin = kubeConfig(kenv.AGENTRUN_KUBE_ADMIN_KUBECONFIG);
    worker = kubeConfig(kenv.K8S_KUBECONFIG);
    sim = await startPodSimulator(admin, NS);
  });
  after(async () => {
    podPrints([]);
    sim?.stop();
    await c?.close();
  });

  const executor = (extra: Record<string, string> = {}) => new KubernetesExecutor({
    workspace: new WorkspaceStore({ s3: c.s3, bucket: c.config.s3.bucket, fileMaxBytes: 1 << 20 }), log, maxWorkspaceBytes: 1 << 20, maxFileBytes: 1 << 20,
    cfg: k8sConfig(env, extra),
  }, worker);

  const request = (runId: string, argv: string[], timeoutMs = 60_000): SandboxRequest => ({
    runId, userId: 'k8s-user', index: 0, workspacePrefix: s3Keys.workspaceFiles('k8s-user', runId),
    command: { argv }, limits: { timeoutMs, outputMaxBytes: 4096 },
  });

  const jobsOf = async (runId: string) => (await admin.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: NS, labelSelector: jobSelector(runId) })).items;
  const podsOf = async (runId: string) => (await admin.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: NS, labelSelector: jobSelector(runId) })).items;

  it('runs a step as a hardened Job, and returns the result the runner recorded', async () => {
    const runId = newRunId();
    const req = request(runId, ['sh', '-c', 'cat in.txt > out.txt; echo copied; echo two; echo oops >&2']);
    await c.s3.send(new PutObjectCommand({ Bucket: c.config.s3.bucket, Key: `${req.workspacePrefix}in.txt`, Body: 'from s3' }));
    const beats: unknown[] = [];
    const lines: [string, string][] = [];
    podPrints([['stdout', 'copied'], ['stdout', 'two'], ['stderr', 'oops']]);
    const r = await executor({ K8S_POD_ANNOTATIONS: 'agentrun.dev/sim-delay=4s' }).run(req, {
      signal: new AbortController().signal, heartbeat: (d) => beats.push(d), onLine: (stream, line) => lines.push([stream, line]),
    });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, 'copied\ntwo\n');
    // The exec container's log, followed through the apiserver (pods/log, with the worker's
    // RBAC) from kwok's kubelet endpoint: one merged stream, as a kubelet serves it.
    assert.deepEqual(lines, [['stdout', 'copied'], ['stdout', 'two'], ['stdout', 'oops']]);
    assert.deepEqual(r.changedFiles.map((f) => [f.path, f.change]), [['out.txt', 'added']]);
    const out = await c.s3.send(new GetObjectCommand({ Bucket: c.config.s3.bucket, Key: `${req.workspacePrefix}out.txt` }));
    assert.equal(await out.Body!.transformToString(), 'from s3');
    assert.deepEqual(sim.ran.get(jobName(runId, 0)), [0, 0, 0], 'pull, exec and push ran');
    assert.ok(beats.length >= 2, 'heartbeats while waiting');

    const job: V1Job = await admin.makeApiClient(BatchV1Api).readNamespacedJob({ name: jobName(runId, 0), namespace: NS });
    assert.equal(job.spec?.backoffLimit, 0);
    assert.equal(job.spec?.activeDeadlineSeconds, 60 + 120);
    assert.equal(job.spec?.ttlSecondsAfterFinished, 600);
    assert.equal(job.metadata?.labels?.['agentrun.dev/run-id'], runId);
    assert.equal(job.metadata?.labels?.['agentrun.dev/step'], '0');
    const pod = job.spec.template.spec!;
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.restartPolicy, 'Never');
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    const containers = [...(pod.initContainers ?? []), ...pod.containers];
    assert.deepEqual(containers.map((x) => x.name), ['pull', 'exec', 'push']);
    for (const x of containers) {
      assert.equal(x.securityContext?.readOnlyRootFilesystem, true, x.name);
      assert.equal(x.securityContext?.allowPrivilegeEscalation, false, x.name);
      assert.equal(x.securityContext?.runAsNonRoot, true, x.name);
      assert.deepEqual(x.securityContext?.capabilities?.drop, ['ALL'], x.name);
      assert.equal(x.securityContext?.seccompProfile?.type, 'RuntimeDefault', x.name);
      for (const res of ['cpu', 'memory', 'ephemeral-storage']) {
        assert.ok(x.resources?.requests?.[res] && x.resources?.limits?.[res], `${x.name} ${res}`);
      }
    }
    const execEnv = containers[1]!.env!.map((e) => e.name);
    assert.ok(!execEnv.some((n) => n.startsWith('AWS_')), 'the exec container gets no credentials');
    assert.ok(containers[0]!.env!.some((e) => e.name === 'AWS_SECRET_ACCESS_KEY' && e.valueFrom?.secretKeyRef?.name === 'agentrun-runner-s3'));
    assert.ok(pod.volumes!.find((v) => v.name === 'workspace')?.emptyDir?.sizeLimit);

    // A retried activity finds the record and creates nothing new.
    const again = await executor().run(req, { signal: new AbortController().signal });
    assert.equal(again.stdout, r.stdout);
    assert.equal((await jobsOf(runId)).length, 1);
  });

  it('without pod logs the step\'s output reaches the run\'s log from the result record', async () => {
    podPrints([]);
    const lines: [string, string][] = [];
    // The delay gives the pod simulator time to run the runner's phases before kwok ends the pod.
    const r = await executor({ K8S_POD_ANNOTATIONS: 'agentrun.dev/sim-delay=4s' }).run(request(newRunId(), ['sh', '-c', 'echo out-1; echo err-1 >&2; echo out-2']), {
      signal: new AbortController().signal, onLine: (stream, line) => lines.push([stream, line]),
    });
    assert.equal(r.exitCode, 0);
    assert.deepEqual(lines, [['stdout', 'out-1'], ['stdout', 'out-2'], ['stderr', 'err-1']]);
  });

  it('pods run from the runner image whenever podman and the image exist (AGENTRUN_PODSIM=host forces the host runner)', () => {
    const available = podSimulatorMode({ ...process.env, AGENTRUN_PODSIM: '' });
    assert.equal(sim.mode, process.env.AGENTRUN_PODSIM === 'host' ? 'host' : available.mode, available.why);
  });

  it('the step runs in the runner image with the pod\'s securityContext and limits, and leaves no container behind', { skip: inImage }, async () => {
    podPrints([]);
    const script = [
      'id -u; id -g', 'test -f /app/src/runner/main.ts && echo runner-image', 'ls /app/src | tr "\\n" " "; echo',
      'touch /usr/x 2>/dev/null || echo root-read-only', 'touch /tmp/x && echo tmp-writable',
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max',
      'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d" " -f1 /sys/fs/cgroup/cpu.max',
      'grep -E "^(CapEff|NoNewPrivs)" /proc/self/status | tr -d "\\t"',
    ].join('; ');
    const r = await executor({ K8S_POD_ANNOTATIONS: 'agentrun.dev/sim-delay=1s' }).run(request(newRunId(), ['sh', '-c', script]), { signal: new AbortController().signal });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      '65532', '65532', 'runner-image', 'infra runner sandbox shared workspace ', 'root-read-only', 'tmp-writable',
      String(512 * 2 ** 20), '50000', 'CapEff:0000000000000000', 'NoNewPrivs:1',
    ]);
    assert.deepEqual(sim.containers(), [], 'the pod\'s containers (and its network container) are removed');
  });

  it('a step can reach S3 only: Redis, Postgres, the apiserver and Temporal are refused, other addresses unreachable, and the workspace syncs', { skip: inImage }, async () => {
    podPrints([]);
    const url = (u: string) => new URL(u);
    const api = url(worker.getCurrentCluster()!.server);
    const [temporalHost, temporalPort] = env.TEMPORAL_ADDRESS!.split(':') as [string, string];
    const targets: [name: string, host: string, port: number][] = [
      ['s3', url(env.S3_ENDPOINT!).hostname, Number(url(env.S3_ENDPOINT!).port)],
      ['redis', url(env.REDIS_URL!).hostname, Number(url(env.REDIS_URL!).port)],
      ['postgres', url(env.DATABASE_URL!).hostname, Number(url(env.DATABASE_URL!).port)],
      ['apiserver', api.hostname, Number(api.port)],
      ['temporal', temporalHost, Number(temporalPort)],
    ];
    // The probe sees something: from this machine, every one of them answers.
    for (const [name, host, port] of targets) assert.equal(await reach(host, port), 'connected', `${name} from the host`);
    const external = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    const far: [string, string, number][] = [['metadata', '169.254.169.254', 80], ...(external ? [['postgres-on-host-address', external, targets[2]![2]] as [string, string, number]] : [])];
    const probe = `const net = require('node:net'); const fs = require('node:fs');
      const reach = (host, port) => new Promise((res) => { const s = net.connect({ host, port, timeout: 5000 });
        s.once('connect', () => { s.destroy(); res('connected'); }); s.once('timeout', () => { s.destroy(); res('timeout'); }); s.once('error', (e) => res(e.code)); });
      (async () => { const out = [];
        for (const [name, host, port] of ${JSON.stringify([...targets, ...far])}) out.push(name + ' ' + await reach(host, port));
        out.push('in.txt ' + fs.readFileSync('in.txt', 'utf8'));
        fs.writeFileSync('reach.txt', out.join('\\n') + '\\n'); console.log(out.join('\\n')); })();`;
    const runId = newRunId();
    const req = request(runId, ['node', '-e', probe]);
    await c.s3.send(new PutObjectCommand({ Bucket: c.config.s3.bucket, Key: `${req.workspacePrefix}in.txt`, Body: 'pulled' }));
    const r = await executor({ K8S_POD_ANNOTATIONS: 'agentrun.dev/sim-delay=1s' }).run(req, { signal: new AbortController().signal });
    assert.equal(r.exitCode, 0, r.stderr);
    const seen = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(' ') as [string, string]));
    // The pod's own loopback holds only the S3 relay; the host's services listen on the host's.
    assert.deepEqual(seen, {
      s3: 'connected', redis: 'ECONNREFUSED', postgres: 'ECONNREFUSED', apiserver: 'ECONNREFUSED', temporal: 'ECONNREFUSED',
      metadata: 'ENETUNREACH', ...(external ? { 'postgres-on-host-address': 'ENETUNREACH' } : {}), 'in.txt': 'pulled',
    }, r.stdout);
    const pushed = await c.s3.send(new GetObjectCommand({ Bucket: c.config.s3.bucket, Key: `${req.workspacePrefix}reach.txt` }));
    assert.equal(await pushed.Body!.transformToString(), r.stdout);
    assert.deepEqual(sim.ran.get(jobName(runId, 0)), [0, 0, 0]);
  });

  it('cancelling a step whose command runs in its container deletes the Job, and the container goes with it', { skip: inImage }, async () => {
    const runId = newRunId();
    const ac = new AbortController();
    const p = executor().run(request(runId, ['sleep', '1000']), { signal: ac.signal });
    await waitUntil('exec container running', () => sim.containers().some((n) => n.endsWith('-exec')), 120_000);
    ac.abort(new Error('cancelled by test'));
    await assert.rejects(p, /cancelled by test/);
    await waitUntil('containers gone', () => sim.containers().length === 0, 60_000);
    await waitUntil('pod simulated', () => (sim.ran.get(jobName(runId, 0))?.length ?? 0) > 0, 60_000);
    assert.deepEqual(sim.ran.get(jobName(runId, 0))?.slice(0, 1), [0], 'pull ran; exec was killed; push never ran');
    assert.equal(sim.ran.get(jobName(runId, 0))?.length, 2);
  });

  it('adopts the Job its earlier attempt created (409) instead of creating a second', async () => {
    const runId = newRunId();
    const req = request(runId, ['true']);
    const first = executor({ K8S_POD_ANNOTATIONS: 'agentrun.dev/sim-delay=5s' });
    const ac = new AbortController();
    // Attempt 1 creates the Job, then "dies" (its wait is abandoned without deleting).
    const p1 = first.run(req, { signal: new AbortController().signal });
    await waitUntil('job created', async () => (await jobsOf(runId)).length === 1);
    const r2 = await executor({ K8S_POD_ANNOTATIONS: 'agentrun.dev/sim-delay=5s' }).run(req, { signal: ac.signal });
    assert.equal(r2.exitCode, 0);
    await p1;
    assert.equal((await jobsOf(runId)).length, 1);
  });

  it('a Job an earlier attempt is deleting (its worker stopped) is not adopted: the step waits for it to go and runs in a new Job', async () => {
    const runId = newRunId();
    const req = request(runId, ['true']);
    const batch = admin.makeApiClient(BatchV1Api);
    // Attempt 1's Job, held in deletion by a finalizer, as a stopped attempt's Job is while its pod goes.
    const p1 = executor({ K8S_POD_LABELS: 'agentrun.dev/sim-outcome=hang' }).run(req, { signal: new AbortController().signal }).catch(() => undefined);
    await waitUntil('job created', async () => (await jobsOf(runId)).length === 1);
    const name = jobName(runId, 0);
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    await batch.patchNamespacedJob({ name, namespace: NS, body: { metadata: { finalizers: ['agentrun.test/hold'] } } }, merge);
    await batch.deleteNamespacedJob({ name, namespace: NS, propagationPolicy: 'Background' });
    const p2 = executor().run(req, { signal: new AbortController().signal });
    await sleep(1500);
    assert.ok((await batch.readNamespacedJob({ name, namespace: NS })).metadata?.deletionTimestamp, 'attempt 2 waits while the old Job is deleting');
    await batch.patchNamespacedJob({ name, namespace: NS, body: { metadata: { finalizers: null } } }, merge);
    const r2 = await p2;
    assert.equal(r2.exitCode, 0);
    const jobs = await jobsOf(runId);
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0]!.metadata?.deletionTimestamp, undefined, 'a new Job');
    await p1;
  });

  it('a failing pod gives a typed, non-retryable failure', async () => {
    const runId = newRunId();
    await assert.rejects(executor({ K8S_POD_LABELS: 'agentrun.dev/sim-outcome=fail' }).run(request(runId, ['true']), { signal: new AbortController().signal }), (thrown: unknown) => {
      assert.ok(thrown instanceof SandboxFailed, String(thrown));
      // The step activity turns the sandbox's error into this Temporal failure.
      const err = stepFailure(thrown);
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'SandboxFailed');
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /exited 3/);
      return true;
    });
  });

  it('activeDeadlineSeconds gives the deadline failure', async () => {
    const runId = newRunId();
    const ex = executor({ K8S_POD_LABELS: 'agentrun.dev/sim-outcome=hang', K8S_DEADLINE_GRACE_S: '2' });
    await assert.rejects(ex.run(request(runId, ['sleep', '1000'], 1000), { signal: new AbortController().signal }), (thrown: unknown) => {
      assert.ok(thrown instanceof SandboxDeadlineExceeded, String(thrown));
      const err = stepFailure(thrown);
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'SandboxDeadlineExceeded');
      assert.equal(err.nonRetryable, true);
      return true;
    });
  });

  it('cancellation deletes the Job and its pods', async () => {
    const runId = newRunId();
    const ac = new AbortController();
    const p = executor({ K8S_POD_LABELS: 'agentrun.dev/sim-outcome=hang' }).run(request(runId, ['sleep', '1000']), { signal: ac.signal });
    await waitUntil('pod running', async () => (await podsOf(runId)).some((x) => x.status?.phase === 'Running'));
    ac.abort(new Error('cancelled by test'));
    await assert.rejects(p, /cancelled by test/);
    assert.equal((await jobsOf(runId)).length, 0, 'job gone when run() returns');
    await waitUntil('pods gone', async () => (await podsOf(runId)).length === 0, 60_000);
  });

  it('the local overlay\'s cluster objects pass server-side dry-run; the worker\'s Role allows Jobs in the tools namespace only; Pod Security rejects an unhardened pod', async () => {
    const applied = await applyObjects(admin, clusterManifests(stackPaths(process.env)), true);
    assert.ok(applied.length >= 8);
    const quota = await admin.makeApiClient(CoreV1Api).readNamespacedResourceQuota({ name: 'agentrun-tools', namespace: NS });
    assert.equal(quota.spec?.hard?.['count/jobs.batch'], '50');
    assert.equal(quota.spec?.hard?.['requests.cpu'], '25');
    assert.equal(quota.spec?.hard?.['requests.memory'], '50Gi');
    const ns = await admin.makeApiClient(CoreV1Api).readNamespace({ name: NS });
    assert.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    assert.deepEqual(applied.filter((o) => o.kind === 'NetworkPolicy').map((o) => o.metadata?.name).sort(), ['agentrun-tools-deny-all', 'agentrun-tools-egress', 'agentrun-tools-web-egress']);

    const authz = worker.makeApiClient(AuthorizationV1Api);
    const can = async (namespace: string, verb: string, resource: string, group = '', subresource?: string) => (await authz.createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { namespace, verb, group, resource, subresource } } },
    })).status?.allowed === true;
    for (const verb of ['create', 'get', 'list', 'watch', 'delete']) assert.equal(await can(NS, verb, 'jobs', 'batch'), true, verb);
    assert.equal(await can(NS, 'get', 'pods', '', 'log'), true, 'pods/log');
    assert.equal(await can('default', 'create', 'jobs', 'batch'), false, 'jobs elsewhere');
    assert.equal(await can(NS, 'get', 'secrets'), false, 'secrets');
    assert.equal(await can(NS, 'create', 'pods'), false, 'bare pods');
    assert.equal(await can(NS, 'update', 'jobs', 'batch'), false, 'update jobs');

    const unhardened = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'unhardened', namespace: NS }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } as KubernetesObject;
    await assert.rejects(applyObjects(admin, [unhardened], true), (err: unknown) => {
      assert.match(String((err as { body?: unknown }).body ?? err), /violates PodSecurity \\\\?"restricted:latest/);
      return true;
    });
  });

  it('tool pods may reach DNS and the S3 endpoint only: never the metadata address, the API server or anything else', async () => {
    const policies = buildOverlay(stackPaths(process.env), 'production').filter((o) => o.kind === 'NetworkPolicy') as V1NetworkPolicy[];
    const deny = policies.find((p) => p.metadata?.name === 'agentrun-tools-deny-all')!;
    assert.deepEqual(Object.keys(deny.spec?.podSelector ?? { missing: true }), []);
    assert.deepEqual(deny.spec?.policyTypes, ['Ingress', 'Egress']);
    assert.equal(deny.spec?.ingress, undefined);
    assert.equal(deny.spec?.egress, undefined);
    const egress = policies.find((p) => p.metadata?.name === 'agentrun-tools-egress')!;
    // It selects exactly the pods the executor creates.
    const pod = buildJobManifest({ req: request('run_policy', ['true']), cfg: k8sConfig(env), maxWorkspaceBytes: 1, maxFileBytes: 1 }).spec!.template.metadata!.labels!;
    for (const [k, v] of Object.entries(egress.spec!.podSelector?.matchLabels ?? {})) assert.equal(pod[k], v, k);
    assert.deepEqual(egress.spec?.policyTypes, ['Egress']);
    assert.equal(egress.spec?.ingress, undefined);
    const rules = egress.spec?.egress ?? [];
    assert.equal(rules.length, 2);
    const [dns, s3] = rules;
    assert.deepEqual(dns!.ports!.map((p) => `${p.protocol}/${p.port}`).sort(), ['TCP/53', 'UDP/53']);
    assert.ok(dns!.to!.every((t) => t.podSelector?.matchLabels?.['k8s-app'] === 'kube-dns' && t.ipBlock === undefined));
    assert.deepEqual(s3!.ports!.map((p) => `${p.protocol}/${p.port}`).sort(), ['TCP/443', 'TCP/9000']);
    for (const t of rules.flatMap((r) => r.to ?? [])) {
      const block = t.ipBlock;
      if (!block) continue;
      for (const ip of ['169.254.169.254', '10.96.0.1']) {
        const covered: boolean = cidrContains(block.cidr, ip) && !(block.except ?? []).some((e) => cidrContains(e, ip));
        assert.equal(covered, false, `${block.cidr} lets tool pods reach ${ip}`);
      }
    }
  });

  it('browser pods alone may also reach public web addresses on 80 and 443: never private, loopback, metadata or CGNAT ones', () => {
    const policies = buildOverlay(stackPaths(process.env), 'production').filter((o) => o.kind === 'NetworkPolicy') as V1NetworkPolicy[];
    const web = policies.find((p) => p.metadata?.name === 'agentrun-tools-web-egress')!;
    const labelsOf = (req: SandboxRequest) => buildJobManifest({ req, cfg: k8sConfig(env), maxWorkspaceBytes: 1, maxFileBytes: 1 }).spec!.template.metadata!.labels!;
    const selects = (labels: Record<string, string>) => Object.entries(web.spec!.podSelector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
    const browserReq: SandboxRequest = {
      ...request('run_web', ['true']),
      command: { browser: { page: { url: 'https://example.com/', screenshot: true, text: false, timeoutMs: 1000 }, files: {}, egress: { allowHosts: [], allowPorts: [80, 443], maxBytes: 1, timeoutMs: 1 }, maxPageBytes: 1, chromium: '/usr/lib/chromium/chromium' } },
    };
    assert.equal(selects(labelsOf(browserReq)), true, 'a browser step\'s pod');
    assert.equal(selects(labelsOf(request('run_web', ['true']))), false, 'a shell step\'s pod');
    const [rule] = web.spec!.egress!;
    assert.deepEqual(rule!.ports!.map((p) => `${p.protocol}/${p.port}`).sort(), ['TCP/443', 'TCP/80']);
    const v4 = rule!.to!.find((t) => t.ipBlock?.cidr === '0.0.0.0/0')!.ipBlock!;
    const reaches = (ip: string) => cidrContains(v4.cidr, ip) && !(v4.except ?? []).some((e) => cidrContains(e, ip));
    for (const ip of ['169.254.169.254', '10.96.0.1', '127.0.0.1', '172.16.5.4', '192.168.1.1', '100.64.0.1', '0.0.0.0', '224.0.0.1']) assert.equal(reaches(ip), false, ip);
    assert.equal(reaches('93.184.216.34'), true, 'a public address');
    const v6 = rule!.to!.find((t) => t.ipBlock?.cidr === '::/0')!.ipBlock!;
    for (const block of ['::1/128', '64:ff9b::/96', 'fc00::/7', 'fe80::/10']) assert.ok(v6.except?.includes(block), block);
  });

  it('the worker refuses to start, with one line, when it cannot run Jobs', async () => {
    const base = { ...env, SANDBOX: 'kubernetes', K8S_NAMESPACE: 'no-such-namespace', TEMPORAL_TASK_QUEUE: uniqueQueue('k8s-boot') };
    // Three workers booted side by side, each refusing for its own reason.
    const [admin, role, none] = await Promise.all([
      boot('worker', { ...base, K8S_KUBECONFIG: env.AGENTRUN_KUBE_ADMIN_KUBECONFIG! }),
      boot('worker', base),
      boot('worker', { ...base, K8S_KUBECONFIG: '/nonexistent/kubeconfig' }),
    ]);
    // With cluster-wide read access the missing namespace is named …
    assertRefused(admin, 'worker', /namespace no-such-namespace does not exist/);
    // … with the worker's namespaced Role, the missing permission is.
    assertRefused(role, 'worker', /does not allow this worker to create jobs in namespace no-such-namespace/);
    assertRefused(none, 'worker', /no Kubernetes credentials/);
  });

  describe('through the workflow', () => {
    let api: Proc & { url: string };
    let user: string;
    let wenv: Record<string, string>;
    const workers: Proc[] = [];
    before(async () => {
      user = await newUser(c, 10_000, 'k8s');
      wenv = { ...env, TEMPORAL_TASK_QUEUE: uniqueQueue('k8s'), DEFAULT_USER_ID: user, SANDBOX: 'kubernetes' };
      api = await startApi(wenv);
    });
    after(async () => {
      await Promise.all([stop(api), ...workers.map((w) => stop(w, 'SIGKILL'))]);
    });

    it('a step retried after a worker SIGKILL leaves exactly one Job', async () => {
      const slow = { ...wenv, K8S_POD_ANNOTATIONS: 'agentrun.dev/sim-delay=12s' };
      const w1 = await startWorker(slow);
      workers.push(w1);
      const id = await createRun(api.url, 'shell echo hello');
      await waitUntil('job created', async () => (await jobsOf(id)).length === 1, 60_000);
      w1.child.kill('SIGKILL');
      await w1.exited;
      workers.push(await startWorker(slow));
      const h = c.temporal.workflow.getHandle(id);
      await h.result();
      assert.equal((await jobsOf(id)).length, 1, 'one Job for the step');
      const history = await h.fetchHistory();
      const started = history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
      assert.ok(started.some((a) => (a ?? 1) > 1), 'the step activity was retried');
    });

    /**
     * A run whose step's Job a worker created and then stopped (SIGTERM: the step's activity is
     * cancelled with WORKER_SHUTDOWN after the grace); `slow` starts the next worker alike.
     */
    const jobOfStoppedWorker = async (simDelay: string) => {
      const slow = { ...wenv, K8S_POD_ANNOTATIONS: `agentrun.dev/sim-delay=${simDelay}`, WORKER_SHUTDOWN_GRACE_MS: '500' };
      const w1 = await startWorker(slow);
      workers.push(w1);
      const id = await createRun(api.url, 'shell echo hello');
      await waitUntil('job created', async () => (await jobsOf(id)).length === 1, 60_000);
      const uid = (await jobsOf(id))[0]!.metadata!.uid;
      await stop(w1);
      return { id, uid, slow };
    };

    it('a worker stopped (SIGTERM) mid-step leaves its Job running, and the next worker adopts it: the same Job, not a new one', async () => {
      const { id, uid, slow } = await jobOfStoppedWorker('12s');
      assert.equal((await jobsOf(id))[0]?.metadata?.uid, uid, 'the Job goes on while no worker runs');
      workers.push(await startWorker(slow));
      const h = c.temporal.workflow.getHandle(id);
      await h.result();
      assert.equal((await c.store.getRun(id))?.status, 'completed');
      const jobs = await jobsOf(id);
      assert.deepEqual(jobs.map((j) => j.metadata?.uid), [uid], 'the retry adopted the Job the stopped worker created');
    });

    it('a run cancelled while no worker runs its step (the Job a stopped worker left) ends with its Job deleted', async () => {
      const { id, slow } = await jobOfStoppedWorker('60s'); // its Job goes on; no attempt of the step runs now
      const h = c.temporal.workflow.getHandle(id);
      await h.cancel();
      workers.push(await startWorker(slow));
      await waitUntil('run cancelled', async () => (await c.store.getRun(id))?.status === 'cancelled', 60_000);
      await waitUntil('the Job deleted by the run\'s close', async () => (await jobsOf(id)).length === 0, 30_000);
    });

    it('cancelling the workflow leaves zero Jobs and zero Pods for the run', async () => {
      workers.push(await startWorker({ ...wenv, K8S_POD_LABELS: 'agentrun.dev/sim-outcome=hang' }));
      const id = await createRun(api.url, 'shell sleep 1000');
      await waitUntil('pod running', async () => (await podsOf(id)).some((x) => x.status?.phase === 'Running'), 60_000);
      const h = c.temporal.workflow.getHandle(id);
      await h.cancel();
      await waitUntil('run cancelled', async () => (await h.describe()).status.name !== 'RUNNING', 60_000);
      assert.equal((await jobsOf(id)).length, 0);
      await waitUntil('pods gone', async () => (await podsOf(id)).length === 0, 60_000);
    });
  });
});
