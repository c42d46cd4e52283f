/**
 * P7: cancelling a run whose step runs as a Kubernetes Job (`shell sleep 600`, which the
 * bench's stand-in kubelet leaves running): from POST /v1/runs/:id/cancel to the run's
 * `end` event on its SSE stream, and to the moment the apiserver lists neither a Job nor
 * a pod of the run. No baseline: the figure is the latency itself.
 */
import { JOB_LABELS } from '../../shared/names.ts';
import { cancelRun, startRun, type BenchRig, type KubeRig } from './api.ts';
import { readSse } from '../../client/sse.ts';
import { waitFor } from '../proc.ts';
import { figure, quantile, type Figure } from './stats.ts';

/** The run's Jobs and pods the apiserver lists now (pods being deleted included). */
async function leftovers(k: KubeRig, runId: string): Promise<{ jobs: number; pods: number; running: number }> {
  const labelSelector = `${JOB_LABELS.runId}=${runId}`;
  const [jobs, pods] = await Promise.all([
    k.batch.listNamespacedJob({ namespace: k.namespace, labelSelector }),
    k.core.listNamespacedPod({ namespace: k.namespace, labelSelector }),
  ]);
  return { jobs: jobs.items.length, pods: pods.items.length, running: pods.items.filter((p) => p.status?.phase === 'Running').length };
}

/** One sample: ms from the cancel request to `end`, and to no Job and no pod left. */
async function cancelOnce(k: KubeRig): Promise<{ endMs: number; goneMs: number }> {
  const id = await startRun(k.base, { prompt: 'shell sleep 600' });
  let endAt: number | undefined;
  let endStatus = '';
  const abort = new AbortController();
  const stream = (async () => {
    for await (const m of readSse(`${k.base}/v1/runs/${id}/events`, { signal: abort.signal })) {
      if (m.event === 'end') {
        endAt = performance.now();
        endStatus = (JSON.parse(m.data) as { status?: string }).status ?? '';
      }
    }
  })().catch((err: Error) => { if (!abort.signal.aborted) throw err; });
  try {
    await waitFor(`P7: run ${id}'s Job to have a running pod`, 120_000, async () => (await leftovers(k, id)).running > 0);
    const t0 = performance.now();
    await cancelRun(k.base, id);
    let goneAt: number | undefined;
    await waitFor(`P7: run ${id}'s Job and pods to be gone after cancel`, 120_000, async () => {
      const left = await leftovers(k, id);
      if (left.jobs + left.pods === 0) goneAt ??= performance.now();
      return goneAt !== undefined;
    });
    await waitFor(`P7: run ${id}'s end event after cancel`, 120_000, () => endAt !== undefined);
    if (endStatus !== 'cancelled') throw new Error(`P7: run ${id} ended ${endStatus}, not cancelled`);
    return { endMs: endAt! - t0, goneMs: goneAt! - t0 };
  } finally {
    abort.abort();
    await stream;
  }
}

export async function cancelRows(rig: BenchRig, k: KubeRig): Promise<{ figures: Figure[]; samples: Record<string, unknown> }> {
  const n = rig.p.rounds * rig.p.samples;
  rig.say(`  P7: cancelling ${n} runs, each with a Kubernetes step running`);
  const xs: { endMs: number; goneMs: number }[] = [];
  for (let i = 0; i < n; i += 1) xs.push(await cancelOnce(k));
  const q = (key: 'endMs' | 'goneMs', at: number) => quantile(xs.map((x) => x[key]), at);
  const none = { baseline: Number.NaN, baselineWhat: '', higherIsBetter: false, unit: 'ms' };
  return {
    figures: [
      figure({ id: 'P7 end p50', what: 'cancel → `end` event, Kubernetes step running', agentrun: q('endMs', 0.5), ...none }),
      figure({ id: 'P7 end p99', what: 'cancel → `end` event, Kubernetes step running', agentrun: q('endMs', 0.99), ...none }),
      figure({ id: 'P7 gone p50', what: 'cancel → no Job and no pod of the run left', agentrun: q('goneMs', 0.5), ...none }),
      figure({ id: 'P7 gone p99', what: 'cancel → no Job and no pod of the run left', agentrun: q('goneMs', 0.99), ...none }),
    ],
    samples: { P7: xs },
  };
}
