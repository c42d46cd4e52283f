/**
 * The Kubernetes rows (P5, P7) on the stack's test control plane (kwok nodes: pod phases
 * are simulated, no container runs). kubeUnavailable() is the one place the bench starts
 * the control plane; when it cannot, the rows say `skipped: <why>`. The rows use a second
 * worker and API with SANDBOX=kubernetes, and a stand-in kubelet (this file's Kubelet)
 * that ends each Job's pod the moment it sees it — for agentrun's Jobs after writing the
 * result record the runner would have written — and leaves `sleep` steps running (P7).
 * P5: a 1-step `shell true` run, its step's `started` → `completed` events, against a raw
 * Job created and watched to completion with @kubernetes/client-node, alternating.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { BatchV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, Watch, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { join } from 'node:path';
import { freeLoopbackPort } from '../../infra/free-port.ts';
import { createS3 } from '../../infra/s3.ts';
import { loadConfig, type Config, type KubernetesSandboxConfig } from '../../shared/config.ts';
import { JOB_LABELS, s3Keys } from '../../shared/names.ts';
import { ROOT } from '../context.ts';
import { startNode, stopChildren, waitFor } from '../proc.ts';
import { kubernetes } from '../services/kube/index.ts';
import { startRun, type BenchRig, type KubeRig } from './api.ts';
import { cancelRows } from './cancel.ts';
import { readSse } from '../../client/sse.ts';
import { figure, quantile, skipped, type Figure } from './stats.ts';

/** Why the Kubernetes rows cannot run here, or undefined once the control plane answers (started if need be). */
export async function kubeUnavailable(rig: BenchRig): Promise<string | undefined> {
  try {
    if (await kubernetes.healthy(rig.ctx).catch(() => false)) return undefined;
    rig.say('  the Kubernetes control plane is not running: starting it');
    await kubernetes.start(rig.ctx);
    return undefined;
  } catch (err) {
    return `no Kubernetes control plane: ${(err as Error).message.split('\n')[0]}`;
  }
}

export async function kubeRows(rig: BenchRig, config: Config, groups: { p5: boolean; p7: boolean }): Promise<{ figures: Figure[]; samples: Record<string, unknown> }> {
  const why = await kubeUnavailable(rig);
  if (why) {
    return {
      figures: [
        ...(groups.p5 ? [skipped('P5', 'Kubernetes step, create → completed', why)] : []),
        ...(groups.p7 ? [skipped('P7', 'cancel → `end`, cancel → Job and pods gone', why)] : []),
      ],
      samples: {},
    };
  }
  const port = await freeLoopbackPort();
  // The bench's pods carry its tag, so its stand-in kubelet touches no other pod (a test suite's, say).
  const env = { ...rig.env, SANDBOX: 'kubernetes', API_PORT: String(port), TEMPORAL_TASK_QUEUE: `${rig.tag}-kube`, K8S_POD_LABELS: `${BENCH_LABEL}=${rig.tag}` };
  const sandbox = loadConfig(env).sandbox; // the Kubernetes worker's configuration, parsed once here
  if (sandbox.kind !== 'kubernetes') throw new Error(`bench: SANDBOX=kubernetes gave a ${sandbox.kind} sandbox`);
  const kcfg = sandbox.kubernetes;
  const kc = new KubeConfig();
  kc.loadFromFile(rig.env.AGENTRUN_KUBE_ADMIN_KUBECONFIG!);
  const k: KubeRig = { base: `http://127.0.0.1:${port}`, namespace: kcfg.namespace, kc, batch: kc.makeApiClient(BatchV1Api), core: kc.makeApiClient(CoreV1Api) };
  const kubelet = await Kubelet.start(k, config, rig.tag);
  const procs = [startNode(join(ROOT, 'src/worker/main.ts'), env, rig.logs('kube-worker')), startNode(join(ROOT, 'src/api/main.ts'), env, rig.logs('kube-api'))];
  const figures: Figure[] = [];
  const samples: Record<string, unknown> = {};
  const runs: string[] = [];
  try {
    await waitFor('bench: the SANDBOX=kubernetes API', 120_000, async () => (await fetch(`${k.base}/readyz`)).ok, `see ${rig.logs('kube-api')}`);
    await stepTiming(k, runs); // warm-up, not counted
    if (groups.p5) {
      const a: number[] = [];
      const b: number[] = [];
      for (let r = 0; r < rig.p.rounds; r += 1) {
        for (let i = 0; i < rig.p.samples; i += 1) {
          if ((r + i) % 2 === 0) { a.push(await stepTiming(k, runs)); b.push(await rawJob(k, kcfg, rig.tag)); } else { b.push(await rawJob(k, kcfg, rig.tag)); a.push(await stepTiming(k, runs)); }
        }
      }
      samples.P5 = { agentrun: a, raw: b };
      const what = 'Kubernetes `shell true` step, started → completed';
      const baselineWhat = 'raw create Job + watch to Complete, same apiserver';
      figures.push(
        figure({ id: 'P5 p50', what, unit: 'ms', agentrun: quantile(a, 0.5), baseline: quantile(b, 0.5), baselineWhat, higherIsBetter: false }),
        figure({ id: 'P5 p99', what, unit: 'ms', agentrun: quantile(a, 0.99), baseline: quantile(b, 0.99), baselineWhat, higherIsBetter: false }),
      );
    }
    if (groups.p7) {
      const r = await cancelRows(rig, k);
      figures.push(...r.figures);
      Object.assign(samples, r.samples);
    }
  } finally {
    kubelet.stop();
    await stopChildren(procs);
    await deleteJobsOf(k, runs);
  }
  return { figures, samples };
}

/**
 * The completed Jobs of the bench's runs stay until their TTL: deleted here, so a bench
 * run soon after does not find the tools namespace's Job quota full.
 */
async function deleteJobsOf(k: KubeRig, runs: string[]): Promise<void> {
  for (let i = 0; i < runs.length; i += 50) {
    const labelSelector = `${JOB_LABELS.runId} in (${runs.slice(i, i + 50).join(',')})`;
    await k.batch.deleteCollectionNamespacedJob({ namespace: k.namespace, labelSelector, propagationPolicy: 'Background' }).catch(() => undefined);
  }
}

/** agentrun: a 1-step `shell true` run on the Kubernetes worker; ms from its step's `started` event to `completed`. */
async function stepTiming(k: KubeRig, runs: string[]): Promise<number> {
  const id = await startRun(k.base, { prompt: 'shell true' });
  runs.push(id);
  let started: number | undefined;
  let completed: number | undefined;
  let status = '';
  for await (const m of readSse(`${k.base}/v1/runs/${id}/events`)) {
    if (m.event === 'step') {
      const phase = (JSON.parse(m.data) as { phase?: string }).phase;
      if (phase === 'started') started ??= performance.now();
      if (phase === 'completed') completed ??= performance.now();
    }
    if (m.event === 'end') status = (JSON.parse(m.data) as { status?: string }).status ?? '';
  }
  if (status !== 'completed' || started === undefined || completed === undefined) throw new Error(`P5: run ${id} ended ${status || 'without an end event'} (step started: ${started !== undefined}, completed: ${completed !== undefined})`);
  return completed - started;
}

/** The baseline: a minimal Job (one container, the namespace's restricted Pod Security) created and watched until Complete. */
async function rawJob(k: KubeRig, cfg: KubernetesSandboxConfig, tag: string): Promise<number> {
  const name = `${tag}-raw-${crypto.randomUUID().slice(0, 8)}`;
  const resources = { requests: { cpu: cfg.cpu, memory: cfg.memory }, limits: { cpu: cfg.cpu, memory: cfg.memory } };
  const body: V1Job = {
    metadata: { name, labels: { [RAW_LABEL]: 'true', [BENCH_LABEL]: tag } },
    spec: {
      backoffLimit: 0, ttlSecondsAfterFinished: 60,
      template: {
        metadata: { labels: { [RAW_LABEL]: 'true', [BENCH_LABEL]: tag } },
        spec: {
          restartPolicy: 'Never', automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [{
            name: 'exec', image: cfg.image, command: ['true'], resources,
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
          }],
        },
      },
    },
  };
  const t0 = performance.now();
  const created = await k.batch.createNamespacedJob({ namespace: k.namespace, body });
  let watch: AbortController | undefined;
  const done = await new Promise<number>((resolve, reject) => {
    let settled = false;
    new Watch(k.kc).watch(`/apis/batch/v1/namespaces/${k.namespace}/jobs`, { fieldSelector: `metadata.name=${name}`, resourceVersion: created.metadata!.resourceVersion },
      (_type, job: V1Job) => {
        const c = job.status?.conditions?.find((x) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True');
        if (!c || settled) return;
        settled = true;
        if (c.type === 'Complete') resolve(performance.now() - t0);
        else reject(new Error(`P5: raw job ${name} failed: ${c.message ?? c.reason}`));
      }, (err) => { if (!settled) { settled = true; reject(new Error(`P5: the watch of raw job ${name} ended before it completed${err ? `: ${String(err)}` : ''}`)); } },
    ).then((c) => { watch = c; }, reject);
  }).finally(() => watch?.abort());
  await k.batch.deleteNamespacedJob({ name, namespace: k.namespace, propagationPolicy: 'Background' }).catch(() => undefined);
  return done;
}

const RAW_LABEL = 'agentrun.dev/bench-raw';
/** On every pod of this bench run (the tag as value): the stand-in kubelet watches only these. */
const BENCH_LABEL = 'agentrun.dev/bench';
const SIM = { done: 'agentrun.dev/sim-done', delay: 'agentrun.dev/sim-delay' };

/**
 * The stand-in kubelet: watches the tools namespace's pods of this bench run and ends each (kwok's success stage
 * waits for the sim-done annotation) at once, after writing an agentrun Job's result record
 * to S3 (exit 0, no output). Pods whose step runs `sleep` are left running, for P7 to cancel.
 */
class Kubelet {
  private readonly handled = new Set<string>();
  private readonly k: KubeRig;
  private readonly put: (key: string, body: string) => Promise<void>;
  private readonly tag: string;
  private stopped = false;
  private controller: AbortController | undefined;

  private constructor(k: KubeRig, put: (key: string, body: string) => Promise<void>, tag: string) {
    this.k = k;
    this.put = put;
    this.tag = tag;
  }

  static async start(k: KubeRig, config: Config, tag: string): Promise<Kubelet> {
    const s3 = createS3(config.s3);
    const kubelet = new Kubelet(k, async (key, body) => { await s3.send(new PutObjectCommand({ Bucket: config.s3.bucket, Key: key, Body: body, ContentType: 'application/json' })); }, tag);
    await kubelet.watch();
    return kubelet;
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    this.controller = await new Watch(this.k.kc).watch(`/api/v1/namespaces/${this.k.namespace}/pods`, { labelSelector: `${BENCH_LABEL}=${this.tag}` }, (_type, pod: V1Pod) => {
      const name = pod.metadata?.name;
      if (!name || this.handled.has(name) || pod.metadata?.deletionTimestamp || pod.metadata?.annotations?.[SIM.done]) return;
      this.handled.add(name);
      void this.finish(pod).catch((err: Error) => process.stderr.write(`bench kubelet: pod ${name}: ${err.message}\n`));
    }, () => { if (!this.stopped) setTimeout(() => void this.watch().catch(() => undefined), 100); });
  }

  private async finish(pod: V1Pod): Promise<void> {
    if (!pod.metadata?.labels?.[RAW_LABEL]) {
      const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
      const raw = containers.flatMap((c) => c.env ?? []).find((e) => e.name === 'AGENTRUN_REQUEST')?.value;
      if (!raw) return;
      const req = JSON.parse(raw) as { runId: string; userId: string; index: number; command: { argv?: string[] } };
      if (req.command.argv?.[0] === 'sleep') return; // P7 cancels it
      const result = { exitCode: 0, signal: null, timedOut: false, stdout: '', stderr: '', truncated: false, changedFiles: [], skippedFiles: [], durationMs: 0 };
      await this.put(s3Keys.sandboxResult(req.userId, req.runId, req.index), JSON.stringify(result));
    }
    await this.k.core.patchNamespacedPod({ name: pod.metadata!.name!, namespace: this.k.namespace, body: { metadata: { annotations: { [SIM.done]: 'true', [SIM.delay]: '1ms' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }
}
