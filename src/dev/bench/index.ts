/**
 * `./dev bench [--quick] [--runs N] [--steps K] [--rounds R] [--samples S]`: agentrun
 * against bare Temporal on the same local stack, in alternating rounds (A then B, then
 * B then A), each figure next to its baseline measured in the same run. Prints one
 * table and writes it with the raw samples to <data>/bench/<time>.json. Starts its own
 * agentrun worker and API and a bare worker, each a process, on task queues of their own.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { freeLoopbackPort } from '../../infra/free-port.ts';
import { PgStore } from '../../store/pg.ts';
import { DATABASE, ROOT, type StackContext } from '../context.ts';
import { stackEnv } from '../env-file.ts';
import { StackError, startNode, stopChildren, waitFor } from '../proc.ts';
import { adminUrl } from '../services/postgres.ts';
import { agentrunRun, bareRun, throughput, type RunTiming } from './sides.ts';
import { figure, quantile, median, table, type Figure } from './stats.ts';

export interface BenchParams { runs: number; steps: number; rounds: number; samples: number }

export function parseBenchArgs(args: string[]): BenchParams {
  const quick = args.includes('--quick');
  const p: BenchParams = quick ? { runs: 5, steps: 2, rounds: 1, samples: 3 } : { runs: 20, steps: 5, rounds: 3, samples: 10 };
  for (const key of ['runs', 'steps', 'rounds', 'samples'] as const) {
    const at = args.indexOf(`--${key}`);
    if (at < 0) continue;
    const v = Number(args[at + 1]);
    if (!Number.isInteger(v) || v < 1 || v > 10_000) throw new StackError(`--${key} takes a whole number from 1 to 10000, not ${JSON.stringify(args[at + 1])}`);
    p[key] = v;
  }
  return p;
}

export async function bench(ctx: StackContext, args: string[], say: (l: string) => void): Promise<void> {
  const p = parseBenchArgs(args);
  const stack = await stackEnv(ctx);
  const tag = `bench-${Date.now().toString(36)}`;
  const user = 'bench';
  const store = new PgStore({ databaseUrl: adminUrl(ctx, DATABASE) });
  try {
    await store.grant(user, 1_000_000, `${tag}:grant`, 'bench credits');
  } finally {
    await store.close();
  }
  const port = await freeLoopbackPort();
  const logs = (name: string) => join(ctx.paths.logs, `bench-${name}.log`);
  // The defaults, but for the per-user limits a bench of N concurrent runs would hit.
  const env = {
    ...ctx.env, ...stack, API_PORT: String(port), TEMPORAL_TASK_QUEUE: `${tag}-agentrun`, DEFAULT_USER_ID: user, QUEUE_CONSUMER: 'false',
    API_MAX_ACTIVE_RUNS: '100000', API_RATE_LIMIT: '1000000', SSE_MAX_STREAMS_PER_USER: '100000',
  };
  const bareQueue = `${tag}-bare`;
  const procs = [
    startNode(join(ROOT, 'src/worker/main.ts'), env, logs('worker')),
    startNode(join(ROOT, 'src/api/main.ts'), env, logs('api')),
    startNode(join(ROOT, 'src/dev/bench/bare-worker.ts'), { ...env, BENCH_TASK_QUEUE: bareQueue }, logs('bare-worker')),
  ];
  const connection = await Connection.connect({ address: stack.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: stack.TEMPORAL_NAMESPACE ?? 'default' });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor('bench: the API', 120_000, async () => (await fetch(`${base}/readyz`)).ok, `see ${logs('api')}`);
    say(`bench: ${p.runs} runs × ${p.steps} steps, ${p.rounds} round(s), ${p.samples} single runs per round; warming up`);
    await agentrunRun(base, 1);
    await bareRun(client, bareQueue, 1, false);
    const a = { tput: [] as number[], single: [] as RunTiming[] };
    const b = { tput: [] as number[], single: [] as RunTiming[] };
    const sideA = async () => {
      a.tput.push(await throughput(() => agentrunRun(base, p.steps), p.runs));
      for (let i = 0; i < p.samples; i += 1) a.single.push(await agentrunRun(base, 1));
    };
    const sideB = async () => {
      b.tput.push(await throughput(() => bareRun(client, bareQueue, p.steps, false), p.runs));
      for (let i = 0; i < p.samples; i += 1) b.single.push(await bareRun(client, bareQueue, 1, true));
    };
    for (let r = 0; r < p.rounds; r += 1) {
      if (r % 2 === 0) { await sideA(); await sideB(); } else { await sideB(); await sideA(); }
      say(`  round ${r + 1}/${p.rounds}: agentrun ${a.tput.at(-1)!.toFixed(2)} runs/s, bare ${b.tput.at(-1)!.toFixed(2)} runs/s`);
    }
    const ms = (xs: RunTiming[], k: 'firstMs' | 'endMs', q: number) => quantile(xs.map((x) => x[k]), q);
    const figures: Figure[] = [
      figure({ id: 'P1', what: `runs/s, ${p.runs} concurrent runs of ${p.steps} steps`, unit: 'runs/s', agentrun: median(a.tput), baseline: median(b.tput), baselineWhat: `bare workflow, ${p.steps} no-op activities`, higherIsBetter: true }),
      figure({ id: 'P2 p50', what: 'POST → first SSE event', unit: 'ms', agentrun: ms(a.single, 'firstMs', 0.5), baseline: ms(b.single, 'firstMs', 0.5), baselineWhat: 'bare start → first activity start', higherIsBetter: false }),
      figure({ id: 'P2 p99', what: 'POST → first SSE event', unit: 'ms', agentrun: ms(a.single, 'firstMs', 0.99), baseline: ms(b.single, 'firstMs', 0.99), baselineWhat: 'bare start → first activity start', higherIsBetter: false }),
      figure({ id: 'P2b p50', what: 'POST → `end`, 1-step run', unit: 'ms', agentrun: ms(a.single, 'endMs', 0.5), baseline: ms(b.single, 'endMs', 0.5), baselineWhat: 'bare 1-activity workflow end to end', higherIsBetter: false }),
      figure({ id: 'P2b p99', what: 'POST → `end`, 1-step run', unit: 'ms', agentrun: ms(a.single, 'endMs', 0.99), baseline: ms(b.single, 'endMs', 0.99), baselineWhat: 'bare 1-activity workflow end to end', higherIsBetter: false }),
    ];
    const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? '?', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
    say(`\n${table(figures)}\n\nmachine: ${machine.cpus} × ${machine.cpu}, ${machine.memGiB} GiB, Node ${machine.node}`);
    const dir = join(ctx.paths.data, 'bench');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify({ params: p, machine, figures, samples: { agentrun: a, bare: b } }, null, 2)}\n`);
    say(`written: ${file}`);
  } finally {
    await connection.close();
    await stopChildren(procs);
  }
}
