/**
 * P6: what a run in flight costs the worker in memory. The bench's worker's resident set
 * (VmRSS of /proc/<pid>/status) at idle, then as `waiting` runs are parked on approval in
 * ten batches (requireApproval: each holds a workflow in the worker's cache and its state),
 * read after each batch; the figure is the slope of RSS over runs waiting (least squares,
 * so one garbage collection between two reads does not decide it), next to the idle
 * worker's RSS. The runs are cancelled afterwards.
 */
import { readFileSync } from 'node:fs';
import { cancelAll, startRun, waitForStatus, type BenchRig } from './api.ts';
import { figure, median, type Figure } from './stats.ts';

/** VmRSS of a process in MB (MiB), from /proc/<pid>/status. */
export function rssMb(pid: number): number {
  return parseVmRss(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

/** The VmRSS line of a /proc status file, in MiB; NaN when it has none. */
export function parseVmRss(status: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Least-squares slope of y over x (NaN with fewer than two distinct x). */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  const sxy = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  return n < 2 || sxx === 0 ? Number.NaN : sxy / sxx;
}

/** Reads the RSS `n` times, one read after each round trip of the API (no fixed sleeps); the median. */
async function settledRss(rig: BenchRig, pid: number, n = 5): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i += 1) {
    await (await fetch(`${rig.base}/readyz`)).body?.cancel();
    xs.push(rssMb(pid));
  }
  return median(xs);
}

export async function memoryRows(rig: BenchRig): Promise<{ figures: Figure[]; samples: Record<string, unknown> }> {
  const pid = rig.worker.pid;
  if (pid === undefined) throw new Error('the bench worker has no pid');
  const { waiting } = rig.p;
  const idle = await settledRss(rig, pid);
  rig.say(`  P6: worker idle at ${idle.toFixed(1)} MB; starting ${waiting} runs that wait on approval`);
  const ids: string[] = [];
  const points = [{ x: 0, y: idle }];
  const batch = Math.max(1, Math.ceil(waiting / 10));
  try {
    while (ids.length < waiting) {
      const started = await Promise.allSettled(Array.from({ length: Math.min(batch, waiting - ids.length) }, () => startRun(rig.base, { prompt: 'write_file bench.txt waiting', requireApproval: true })));
      const more = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      ids.push(...more); // cancelled below, even when another start failed
      const refused = started.find((r) => r.status === 'rejected');
      if (refused) throw refused.reason;
      await waitForStatus(rig.base, more, ['awaiting_approval'], 600_000);
      points.push({ x: ids.length, y: await settledRss(rig, pid, 3) });
    }
    const loaded = points.at(-1)!.y;
    const perRun = slope(points);
    rig.say(`  P6: ${waiting} runs waiting, worker at ${loaded.toFixed(1)} MB (${perRun.toFixed(3)} MB per run, slope over ${points.length} reads)`);
    return {
      figures: [figure({
        id: 'P6', what: `worker RSS per run in flight (${waiting} runs waiting on approval; ${loaded.toFixed(0)} MB in all)`, unit: 'MB/run',
        agentrun: perRun, baseline: idle, baselineUnit: 'MB', baselineWhat: 'the same worker at idle', higherIsBetter: false, ratio: Number.NaN,
      })],
      samples: { P6: { waiting, idleMb: idle, loadedMb: loaded, perRunMb: perRun, points } },
    };
  } finally {
    await cancelAll(rig.base, ids).catch((err: Error) => rig.say(`  (cancelling the waiting runs: ${err.message})`));
  }
}
