/**
 * Where a bench side's CPU goes: each part's user+system CPU time, read from /proc before
 * and after, divided by the runs it completed. On a machine the parts share, runs/s is
 * about cores ÷ CPU per run, so this says which part to make cheaper.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** A part of the stack: its processes by pid, or every process of a command name (postgres backends). */
export type CpuPart = { pids: () => (number | undefined)[] } | { comm: string };

const TICKS_PER_S = 100; // USER_HZ on Linux

function ticksOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
  } catch {
    return 0; // gone
  }
}

function pidsOfComm(comm: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === comm) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

/** CPU ticks per part now, keyed by pid so processes that come and go are counted fairly. */
export function cpuSnapshot(parts: Record<string, CpuPart>): Record<string, Map<number, number>> {
  const snap: Record<string, Map<number, number>> = {};
  for (const [name, part] of Object.entries(parts)) {
    const pids = 'comm' in part ? pidsOfComm(part.comm) : part.pids().filter((p): p is number => p !== undefined);
    snap[name] = new Map(pids.map((p) => [p, ticksOf(p)]));
  }
  return snap;
}

/** CPU ms per run of each part between two snapshots (a process new since `before` counts from 0). */
export function cpuPerRun(before: Record<string, Map<number, number>>, after: Record<string, Map<number, number>>, runs: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, now] of Object.entries(after)) {
    let ticks = 0;
    for (const [pid, t] of now) ticks += Math.max(0, t - (before[name]?.get(pid) ?? 0));
    out[name] = Math.round(((ticks / TICKS_PER_S) * 1000) / runs);
  }
  return out;
}

/** "temporal 41, worker 30, …, total 120 ms CPU/run" (largest first). */
export function formatCpu(perRun: Record<string, number>): string {
  const parts = Object.entries(perRun).filter(([, ms]) => ms > 0).sort((a, b) => b[1] - a[1]);
  const total = parts.reduce((s, [, ms]) => s + ms, 0);
  return `${parts.map(([n, ms]) => `${n} ${ms}`).join(', ')}; total ${total} ms CPU/run`;
}
