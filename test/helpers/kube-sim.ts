/**
 * kwok drives pod phases but runs no containers. This helper plays the part of
 * the kubelet for our Jobs' *containers*: for each new agentrun Job it runs
 * the runner entrypoint (`src/runner/main.ts pull|exec|push`) on this machine
 * with the env the Job's containers carry (Secret references resolved from the
 * real Secret in the apiserver), so the result record in S3 is the one the
 * runner writes. When the three phases ran, it annotates the Job's pod
 * `agentrun.dev/sim-done`; kwok's success stage waits for that (and its stage
 * delay), so a loaded machine never sees a pod end before its containers did.
 * Jobs whose pods are labelled agentrun.dev/sim-outcome (fail, hang) are left
 * to kwok alone.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig} from '@kubernetes/client-node';
import { CoreV1Api, PatchStrategy, setHeaderOptions, Watch, type V1Container, type V1Job } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from './stack.ts';

export interface PodSimulator {
  /** Job name → exit codes of pull, exec, push. */
  ran: Map<string, number[]>;
  stop(): void;
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

function runPhase(c: V1Container, env: Record<string, string>): Promise<number> {
  const [, script, phase] = c.command ?? [];
  if (script !== '/app/src/runner/main.ts' || !phase) throw new Error(`unexpected container command ${JSON.stringify(c.command)}`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'src', 'runner', 'main.ts'), phase], {
      env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.once('exit', (code) => resolve(code ?? -1));
  });
}

/** Annotates the Job's pod (once it exists) as done, which lets kwok's success stage end it. */
async function markDone(core: CoreV1Api, namespace: string, job: V1Job): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const pods = await core.listNamespacedPod({ namespace, labelSelector: `job-name=${job.metadata!.name!}` }).catch(() => undefined);
    const pod = pods?.items[0];
    if (pod?.metadata?.name) {
      await core.patchNamespacedPod({ name: pod.metadata.name, namespace, body: { metadata: { annotations: { 'agentrun.dev/sim-done': 'true' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch)).catch(() => undefined);
      return;
    }
    if (job.metadata?.deletionTimestamp) return;
    await sleep(100);
  }
}

export async function startPodSimulator(kc: KubeConfig, namespace: string): Promise<PodSimulator> {
  const core = kc.makeApiClient(CoreV1Api);
  const ran = new Map<string, number[]>();
  const simulate = async (job: V1Job) => {
    const name = job.metadata!.name!;
    const spec = job.spec!.template.spec!;
    const scratch = await mkdtemp(join(tmpdir(), 'agentrun-podsim-'));
    const dirs = { AGENTRUN_WORKSPACE_DIR: join(scratch, 'workspace'), AGENTRUN_STATE_DIR: join(scratch, 'state'), AGENTRUN_EXCHANGE_DIR: join(scratch, 'exchange') };
    for (const d of Object.values(dirs)) await mkdir(d);
    const codes: number[] = [];
    try {
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        const code = await runPhase(c, { ...(await envOf(core, namespace, c)), ...dirs, HOME: scratch });
        codes.push(code);
        if (code !== 0) break;
      }
    } finally {
      ran.set(name, codes);
      await rm(scratch, { recursive: true, force: true });
      await markDone(core, namespace, job);
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
        if (type !== 'ADDED' || !name || ran.has(name) || job.status?.conditions?.length) return;
        if (job.spec?.template.metadata?.labels?.['agentrun.dev/sim-outcome']) return;
        ran.set(name, []);
        void simulate(job);
      }, () => { if (!stopped) setTimeout(() => void watch().catch(() => setTimeout(() => void watch(), 500)), 100); });
  };
  await watch();
  return { ran, stop: () => { stopped = true; controller?.abort(); } };
}
