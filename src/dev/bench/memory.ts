/**
 * P6: what a run in flight costs the worker in memory. The bench's worker's resident set
 * (VmRSS of /proc/<pid>/status) at idle, then with `waiting` runs parked on approval
 * (requireApproval: each holds a workflow in the worker's cache and its state); the
 * figure is the difference per run, next to the idle worker's RSS. The runs are cancelled
 * afterwards.
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
  try {
    for (let i = 0; i < waiting; i += 20) {
      ids.push(...await Promise.all(Array.from({ length: Math.min(20, waiting - i) }, () => startRun(rig.base, { prompt: 'write_file bench.txt waiting', requireApproval: true }))));
    }
    await waitForStatus(rig.base, ids, ['awaiting_approval'], 600_000);
    const loaded = await settledRss(rig, pid);
    const perRun = (loaded - idle) / waiting;
    rig.say(`  P6: ${waiting} runs waiting, worker at ${loaded.toFixed(1)} MB (${perRun.toFixed(3)} MB per run)`);
    return {
      figures: [figure({
        id: 'P6', what: `worker RSS per run in flight (${waiting} runs waiting on approval; ${loaded.toFixed(0)} MB in all)`, unit: 'MB/run',
        agentrun: perRun, baseline: idle, baselineUnit: 'MB', baselineWhat: 'the same worker at idle', higherIsBetter: false, ratio: Number.NaN,
      })],
      samples: { P6: { waiting, idleMb: idle, loadedMb: loaded, perRunMb: perRun } },
    };
  } finally {
    await cancelAll(rig.base, ids).catch((err: Error) => rig.say(`  (cancelling the waiting runs: ${err.message})`));
  }
}
