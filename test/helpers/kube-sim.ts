/**
 * kwok drives pod phases but runs no containers. This helper plays the part of
 * the kubelet for our Jobs' *containers*: for each new agentrun Job it runs the
 * pod's containers with the env they carry (Secret references resolved from the
 * real Secret in the apiserver), so the result record in S3 is the one the
 * runner writes. When they ran, it annotates the Job's pod `agentrun.dev/sim-done`;
 * kwok's success stage waits for that (and its stage delay), so a loaded machine
 * never sees a pod end before its containers did. Jobs whose pods are labelled
 * agentrun.dev/sim-outcome (fail, hang) are left to kwok alone.
 *
 * Two modes (`podSimulatorMode()` says which, and why):
 * - `podman` (the default when podman and the runner image exist, `./dev image`): each
 *   container runs from the runner image with the pod's user, read-only root,
 *   dropped capabilities, limits, volumes, and S3 as its only network
 *   (kube-sim/podman.ts), so the tests exercise the real image and securityContext.
 * - `host` (no podman or no image, as in CI; or AGENTRUN_PODSIM=host): the runner's
 *   code (`src/runner/main.ts pull|exec|push`) runs on this machine with the Job's env.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, Watch, type V1Container, type V1Job } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { IMAGES } from '../../src/dev/image.ts';
import { containersOf, removeContainers, runPod } from './kube-sim/podman.ts';
import { imagesMissing } from './podman.ts';
import { ROOT } from './stack.ts';

export type PodSimMode = 'podman' | 'host';

export interface PodSimulator {
  mode: PodSimMode;
  /** The containers of this simulator's pods that exist now (podman mode). */
  containers(): string[];
  /** Job name → exit codes of its containers (pull, exec, push). */
  ran: Map<string, number[]>;
  /** Stops watching and removes every container this simulator started. */
  stop(): void;
}

export interface PodSimOptions {
  /** Pod image (as the manifest names it) → local image. Default: every image → the runner image `./dev image` builds. */
  images?: Record<string, string>;
}

/** Which mode a simulator started now would use, and why (for test names and skip reasons). */
export function podSimulatorMode(env: NodeJS.ProcessEnv = process.env): { mode: PodSimMode; why: string } {
  if (env.AGENTRUN_PODSIM === 'host') return { mode: 'host', why: 'AGENTRUN_PODSIM=host' };
  const missing = imagesMissing([IMAGES.runner]);
  if (missing) return { mode: 'host', why: `${missing} (./dev image)` };
  return { mode: 'podman', why: `containers run from ${IMAGES.runner}` };
}

async function envOf(core: CoreV1Api, namespace: string, c: V1Container): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) {
      const s = await core.readNamespacedSecret({ name: e.valueFrom.secretKeyRef.name!, namespace });
      env[e.name] = Buffer.from(s.data?.[e.valueFrom.secretKeyRef.key] ?? '', 'base64').toString('utf8');
    }
  }
  return env;
}

/** A container's phase as a process group of its own, killed whole when the pod is (its Job deleted). */
function runOnHost(c: V1Container, env: Record<string, string>, signal: AbortSignal): Promise<number> {
  const [, script, phase] = c.command ?? [];
  if (script !== '/app/src/runner/main.ts' || !phase) throw new Error(`unexpected container command ${JSON.stringify(c.command)}`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'src', 'runner', 'main.ts'), phase], {
      env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'inherit'], detached: true,
    });
    // As a kubelet: SIGTERM (the exec phase stops its command, which runs in a group of its own), SIGKILL after a grace.
    const group = (sig: NodeJS.Signals) => { try { process.kill(-child.pid!, sig); } catch { /* gone */ } };
    const kill = () => { group('SIGTERM'); setTimeout(() => group('SIGKILL'), 5000).unref(); };
    signal.addEventListener('abort', kill, { once: true });
    child.once('exit', (code) => {
      signal.removeEventListener('abort', kill);
      group('SIGKILL'); // what the phase left in its group goes with it, as a container's processes do
      resolve(code ?? -1);
    });
  });
}

/** The host mode's pod: the runner's phases in this machine's Node, in a scratch directory. */
async function runPodOnHost(containers: V1Container[], envs: Record<string, string>[], signal: AbortSignal): Promise<number[]> {
  const scratch = await mkdtemp(join(tmpdir(), 'agentrun-podsim-'));
  const dirs = { AGENTRUN_WORKSPACE_DIR: join(scratch, 'workspace'), AGENTRUN_STATE_DIR: join(scratch, 'state'), AGENTRUN_EXCHANGE_DIR: join(scratch, 'exchange') };
  try {
    for (const d of Object.values(dirs)) await mkdir(d);
    const codes: number[] = [];
    for (const [i, c] of containers.entries()) {
      if (signal.aborted) break;
      const code = await runOnHost(c, { ...envs[i], ...dirs, HOME: scratch }, signal);
      codes.push(code);
      if (code !== 0) break;
    }
    return codes;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Marks the Job's pod (once it exists) as done, which lets kwok's success stage end it — or,
 * when a container failed, labels it `sim-outcome=fail`, which ends it failed as a kubelet
 * would. Tried again while the apiserver is away (a restart in the fault suite).
 */
async function markDone(core: CoreV1Api, namespace: string, job: V1Job, ok: boolean): Promise<void> {
  const deadline = Date.now() + 120_000;
  const body = ok ? { metadata: { annotations: { 'agentrun.dev/sim-done': 'true' } } } : { metadata: { labels: { 'agentrun.dev/sim-outcome': 'fail' } } };
  while (Date.now() < deadline) {
    const pods = await core.listNamespacedPod({ namespace, labelSelector: `job-name=${job.metadata!.name!}` }).catch(() => undefined);
    const pod = pods?.items[0];
    if (pod?.metadata?.name) {
      const patched = await core.patchNamespacedPod({ name: pod.metadata.name, namespace, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
        .then(() => true, (err: unknown) => (err as { code?: number }).code === 404);
      if (patched) return;
    }
    if (job.metadata?.deletionTimestamp) return;
    await sleep(pods ? 100 : 500);
  }
}

/** `fn`, tried again for up to a minute while the apiserver does not answer (a kubelet waits it out too). */
async function patiently<T>(fn: () => Promise<T>): Promise<T> {
  for (const deadline = Date.now() + 60_000; ; await sleep(500)) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
  }
}

export async function startPodSimulator(kc: KubeConfig, namespace: string, opts: PodSimOptions = {}): Promise<PodSimulator> {
  const { mode } = podSimulatorMode();
  const instance = randomBytes(3).toString('hex');
  const core = kc.makeApiClient(CoreV1Api);
  const ran = new Map<string, number[]>();
  const running = new Map<string, AbortController>();
  const simulate = async (job: V1Job) => {
    const name = job.metadata!.name!;
    const spec = job.spec!.template.spec!;
    const containers = [...(spec.initContainers ?? []), ...spec.containers];
    const ac = new AbortController();
    running.set(name, ac);
    let codes: number[] = [];
    try {
      const envs = await patiently(() => Promise.all(containers.map((c) => envOf(core, namespace, c))));
      codes = mode === 'host' ? await runPodOnHost(containers, envs, ac.signal) : await runPod({
        instance, name, spec, envs, signal: ac.signal, lifetimeS: (job.spec?.activeDeadlineSeconds ?? 600) + 60,
        images: opts.images ?? Object.fromEntries(containers.map((c) => [c.image ?? '', IMAGES.runner])),
      });
    } catch (err) {
      process.stderr.write(`pod simulator: job ${name}: ${String(err)}\n`);
    } finally {
      running.delete(name);
      ran.set(name, codes);
      if (!ac.signal.aborted) await markDone(core, namespace, job, codes.length === containers.length && codes.every((c) => c === 0));
    }
  };
  let stopped = false;
  let controller: AbortController | undefined;
  // A watch ends (the apiserver's timeout, a dropped connection): watch again, as a kubelet would.
  // Jobs it already saw are in `ran`; a fresh watch lists the existing ones as ADDED again.
  const watch = async (): Promise<void> => {
    if (stopped) return;
    controller = await new Watch(kc).watch(`/apis/batch/v1/namespaces/${namespace}/jobs`, { labelSelector: 'app.kubernetes.io/managed-by=agentrun' },
      (type, job: V1Job) => {
        const name = job.metadata?.name;
        if (!name) return;
        // A deleted (or deleting) Job's pod is killed, as a kubelet would (cancellation).
        if (type === 'DELETED' || job.metadata?.deletionTimestamp) running.get(name)?.abort();
        if (type !== 'ADDED' || ran.has(name) || job.status?.conditions?.length) return;
        if (job.spec?.template.metadata?.labels?.['agentrun.dev/sim-outcome']) return;
        ran.set(name, []);
        void simulate(job);
      }, () => { if (!stopped) setTimeout(() => void watch().catch(() => setTimeout(() => void watch(), 500)), 100); });
  };
  await watch();
  return {
    mode, ran,
    containers: () => (mode === 'podman' ? containersOf(instance) : []),
    stop: () => {
      stopped = true;
      controller?.abort();
      for (const ac of running.values()) ac.abort();
      if (mode === 'podman') removeContainers(instance);
    },
  };
}

/**
 * A simulator in host mode on the admin kubeconfig, for Jobs whose image is not built
 * here (the browser runner's Chromium, an MCP server's image): their phases run with the
 * runner's code on this machine. Answers the simulator and the admin client.
 */
export async function startHostPodSimulator(adminKubeconfig: string, namespace: string): Promise<{ sim: PodSimulator; admin: KubeConfig }> {
  process.env.AGENTRUN_PODSIM = 'host';
  const admin = new KubeConfig();
  admin.loadFromFile(adminKubeconfig);
  return { sim: await startPodSimulator(admin, namespace), admin };
}
