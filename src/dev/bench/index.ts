/**
 * `./dev bench [--quick] [--only P3,P5] [--runs N] [--steps K] [--rounds R] [--samples S]
 * [--clients C] [--events E] [--rate R] [--backlog B] [--waiting W] [--apis A]` (args.ts): agentrun
 * against its baselines on the same local stack, each figure next to its baseline measured
 * in the same run (alternating rounds where both sides are timed). Prints one table and
 * writes it with the raw samples to <data>/bench/<time>.json. Starts its own Temporal dev
 * server (server.ts: a fresh database each bench), its own agentrun worker, A API processes
 * sharing one port (API_REUSE_PORT) and a bare Temporal worker, on task queues of their own;
 * the Kubernetes rows (P5, P7) start a second worker and API with SANDBOX=kubernetes.
 * Rows: core.ts (P1, P2, P2b), sse.ts (P3, P4), memory.ts (P6), kube.ts (P5, P7).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { freeLoopbackPort } from '../../infra/free-port.ts';
import { loadConfig } from '../../shared/config.ts';
import { PgStore } from '../../store/pg.ts';
import { DATABASE, ROOT, type StackContext } from '../context.ts';
import { stackEnv } from '../env-file.ts';
import { startNode, stopChildren, waitFor } from '../proc.ts';
import { adminUrl } from '../services/postgres.ts';
import { ACTIVITY_SLOTS, type BenchRig } from './api.ts';
import { parseBenchArgs, type RowGroup } from './args.ts';
import { coreRows } from './core.ts';
import { kubeRows } from './kube.ts';
import { memoryRows } from './memory.ts';
import { agentrunRun, bareRun } from './sides.ts';
import { startBenchTemporal } from './server.ts';
import { sseRows } from './sse.ts';
import { table, type Figure } from './stats.ts';

export { parseBenchArgs } from './args.ts';

/** The row group of a figure id ('P2b p99' → 'P2b'). */
const groupOf = (id: string) => id.split(' ')[0] as RowGroup;

export async function bench(ctx: StackContext, args: string[], say: (l: string) => void): Promise<void> {
  const p = parseBenchArgs(args, ctx.env);
  const want = (g: RowGroup) => p.only.includes(g);
  const stack = await stackEnv(ctx);
  const tag = `bench-${Date.now().toString(36)}`;
  const user = 'bench';
  const store = new PgStore({ databaseUrl: adminUrl(ctx, DATABASE) });
  try {
    await store.grant(user, 10_000_000, `${tag}:grant`, 'bench credits');
  } finally {
    await store.close();
  }
  const port = await freeLoopbackPort();
  const logs = (name: string) => join(ctx.paths.logs, `bench-${name}.log`);
  const server = await startBenchTemporal(ctx, logs('temporal'));
  try {
    // The defaults, but for the per-user limits a bench of N concurrent runs (and C clients) would hit,
    // and the workers' activity slots, the same on both sides (ACTIVITY_SLOTS; the bare worker reads
    // this variable too). With agentrun's default of 20, of which its pollers hold some, a few of
    // N = 20 runs' steps found no free slot for eager dispatch and went through the task queue.
    const env: Record<string, string> = {
      ...(ctx.env as Record<string, string>), ...stack, TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: 'default', API_PORT: String(port), TEMPORAL_TASK_QUEUE: `${tag}-agentrun`, DEFAULT_USER_ID: user, QUEUE_CONSUMER: 'false',
      API_MAX_ACTIVE_RUNS: '100000', API_RATE_LIMIT: '1000000', SSE_MAX_STREAMS_PER_USER: '100000', SSE_MAX_STREAMS: '1000000',
      WORKER_MAX_CONCURRENT_ACTIVITIES: String(ACTIVITY_SLOTS),
    };
    const config = loadConfig(env);
    const bareQueue = `${tag}-bare`;
    const worker = startNode(join(ROOT, 'src/worker/main.ts'), env, logs('worker'));
    // p.apis API processes share the port (API_REUSE_PORT), as on a host that runs one per core.
    const apis = Array.from({ length: p.apis }, (_, i) => startNode(join(ROOT, 'src/api/main.ts'), { ...env, API_REUSE_PORT: String(p.apis > 1) }, logs(i === 0 ? 'api' : `api-${i + 1}`)));
    const bareWorker = startNode(join(ROOT, 'src/dev/bench/bare-worker.ts'), { ...env, BENCH_TASK_QUEUE: bareQueue }, logs('bare-worker'));
    const procs = [worker, ...apis, bareWorker];
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection, namespace: 'default' });
    const base = `http://127.0.0.1:${port}`;
    const rig: BenchRig = { ctx, p, env, base, temporal: server.process, temporalMetrics: server.metricsUrl, worker, apis, bareWorker, tag, say, logs };
    const figures: Figure[] = [];
    const samples: Record<string, unknown> = {};
    const add = (r: { figures: Figure[]; samples: Record<string, unknown> }) => {
      figures.push(...r.figures.filter((f) => want(groupOf(f.id))));
      Object.assign(samples, r.samples);
    };
    try {
      await waitFor('bench: the API', 120_000, async () => (await fetch(`${base}/readyz`)).ok, `see ${logs('api')}`);
      say(`bench: ${p.only.join(', ')}; warming up`);
      await agentrunRun(base, client, 1);
      await bareRun(client, bareQueue, 1, false);
      // P6 first: its idle figure is the worker's RSS before the other rows leave garbage in its heap.
      if (want('P6')) add(await memoryRows(rig));
      if (want('P1') || want('P2') || want('P2b')) add(await coreRows(rig, client, bareQueue));
      if (want('P3') || want('P4')) add(await sseRows(rig, config, { p3: want('P3'), p4: want('P4') }));
      if (want('P5') || want('P7')) add(await kubeRows(rig, config, { p5: want('P5'), p7: want('P7') }));
      const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? '?', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
      say(`\n${table(figures)}\n\nmachine: ${machine.cpus} × ${machine.cpu}, ${machine.memGiB} GiB, Node ${machine.node}`);
      const dir = join(ctx.paths.data, 'bench');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
      writeFileSync(file, `${JSON.stringify({ params: p, machine, figures, samples }, null, 2)}\n`);
      say(`written: ${file}`);
    } finally {
      await connection.close();
      await stopChildren(procs);
    }
  } finally {
    await server.stop();
  }
}
