/**
 * P1, P2 and P2b: agentrun against bare Temporal on the same server, in alternating rounds
 * (A then B, then B then A): N concurrent runs of K trivial steps for throughput, and
 * single 1-step runs for POST → first event and POST → `end`.
 */
import type { Client } from '@temporalio/client';
import type { BenchRig } from './api.ts';
import { cpuPerRun, cpuSnapshot, formatCpu, type CpuPart } from './cpu.ts';
import { callsPerRun, compareCalls, serverCalls } from './server-calls.ts';
import { agentrunRun, bareRun, throughput, type RunTiming } from './sides.ts';
import { figure, median, quantile, type Figure } from './stats.ts';

export async function coreRows(rig: BenchRig, client: Client, bareQueue: string): Promise<{ figures: Figure[]; samples: Record<string, unknown> }> {
  const { p, base, say } = rig;
  say(`  P1/P2: ${p.runs} runs × ${p.steps} steps, a warm-up round and ${p.rounds} round(s), ${p.samples} single runs per round`);
  const a = { tput: [] as number[], single: [] as RunTiming[], cpu: [] as Record<string, number>[], calls: [] as Record<string, number>[] };
  const b = { tput: [] as number[], single: [] as RunTiming[], cpu: [] as Record<string, number>[], calls: [] as Record<string, number>[] };
  // Every part that may work for a run; the bench process itself is the load generator.
  const parts: Record<string, CpuPart> = {
    temporal: { pids: () => [rig.temporal.pid] }, postgres: { comm: 'postgres' }, redis: { comm: 'redis-server' }, minio: { comm: 'minio' },
    worker: { pids: () => [rig.worker.pid] }, api: { pids: () => rig.apis.map((a) => a.pid) }, 'bare-worker': { pids: () => [rig.bareWorker.pid] },
    bench: { pids: () => [process.pid] },
  };
  const measured = async (side: typeof a, run: () => Promise<RunTiming>) => {
    const calls = await serverCalls(rig.temporalMetrics);
    const before = cpuSnapshot(parts);
    side.tput.push(await throughput(run, p.runs));
    side.cpu.push(cpuPerRun(before, cpuSnapshot(parts), p.runs));
    side.calls.push(callsPerRun(calls, await serverCalls(rig.temporalMetrics), p.runs));
  };
  const sideA = async () => {
    await measured(a, () => agentrunRun(base, client, p.steps));
    for (let i = 0; i < p.samples; i += 1) a.single.push(await agentrunRun(base, client, 1));
  };
  const sideB = async () => {
    await measured(b, () => bareRun(client, bareQueue, p.steps, false));
    for (let i = 0; i < p.samples; i += 1) b.single.push(await bareRun(client, bareQueue, 1, true));
  };
  // One round of each side first, not counted: the first rounds ran each process's code cold
  // (the worker's CPU per run a third above what it settles at), a long-lived worker's does not.
  await throughput(() => agentrunRun(base, client, p.steps), p.runs);
  await throughput(() => bareRun(client, bareQueue, p.steps, false), p.runs);
  for (let r = 0; r < p.rounds; r += 1) {
    if (r % 2 === 0) { await sideA(); await sideB(); } else { await sideB(); await sideA(); }
    say(`  round ${r + 1}/${p.rounds}: agentrun ${a.tput.at(-1)!.toFixed(2)} runs/s, bare ${b.tput.at(-1)!.toFixed(2)} runs/s`);
    say(`    CPU agentrun: ${formatCpu(a.cpu.at(-1)!)}`);
    say(`    CPU bare:     ${formatCpu(b.cpu.at(-1)!)}`);
    say(`    Temporal calls per run: ${compareCalls(a.calls.at(-1)!, b.calls.at(-1)!)}`);
  }
  const ms = (xs: RunTiming[], k: 'firstMs' | 'endMs', q: number) => quantile(xs.map((x) => x[k]), q);
  const figures: Figure[] = [
    figure({ id: 'P1', what: `runs/s, ${p.runs} concurrent runs of ${p.steps} steps`, unit: 'runs/s', agentrun: median(a.tput), baseline: median(b.tput), baselineWhat: `bare workflow, ${p.steps} no-op activities`, higherIsBetter: true }),
    figure({ id: 'P2 p50', what: 'POST → first SSE event', unit: 'ms', agentrun: ms(a.single, 'firstMs', 0.5), baseline: ms(b.single, 'firstMs', 0.5), baselineWhat: 'bare start → first activity start', higherIsBetter: false }),
    figure({ id: 'P2 p99', what: 'POST → first SSE event', unit: 'ms', agentrun: ms(a.single, 'firstMs', 0.99), baseline: ms(b.single, 'firstMs', 0.99), baselineWhat: 'bare start → first activity start', higherIsBetter: false }),
    figure({ id: 'P2b p50', what: 'POST → `end`, 1-step run', unit: 'ms', agentrun: ms(a.single, 'endMs', 0.5), baseline: ms(b.single, 'endMs', 0.5), baselineWhat: 'bare 1-activity workflow end to end', higherIsBetter: false }),
    figure({ id: 'P2b p99', what: 'POST → `end`, 1-step run', unit: 'ms', agentrun: ms(a.single, 'endMs', 0.99), baseline: ms(b.single, 'endMs', 0.99), baselineWhat: 'bare 1-activity workflow end to end', higherIsBetter: false }),
  ];
  return { figures, samples: { agentrun: a, bare: b } };
}
