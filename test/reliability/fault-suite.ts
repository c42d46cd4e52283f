/**
 * `./dev test --reliability`: a mixed workload (file, shell, approval and cancelled runs)
 * on a stack of its own while a chaos schedule kills and stops the worker, restarts
 * Temporal, Redis, Postgres and the API, and takes MinIO down for 20 s. With
 * RELIABILITY_SANDBOX=kubernetes the shell steps are Jobs on a cluster of its own (their
 * pods run by the host pod simulator) and the apiserver goes down for 10 s as well. Every run has a client
 * following it over SSE, reconnecting through all of it. At the end the suite checks and
 * prints: every run ended with the status its kind calls for; every client received every
 * event of its run exactly once and in order (the whole stream, read afresh); the ledger
 * sums to the balance with no reservation or hold open; no Job or pod is left (kubernetes);
 * no process a step started is left. A failed suite keeps its stack's directory (logs, data).
 * A failure names the run and what differed. RELIABILITY_RUNS sets the workload (200).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../src/client/api.ts';
import { followRun } from '../../src/client/follow.ts';
import type { SseMessage } from '../../src/client/sse.ts';
import { loadStackContext } from '../../src/dev/context.ts';
import { minio } from '../../src/dev/services/minio.ts';
import { postgres } from '../../src/dev/services/postgres.ts';
import { redis } from '../../src/dev/services/redis.ts';
import { temporal } from '../../src/dev/services/temporal.ts';
import { PgStore } from '../../src/store/pg.ts';
import { mintToken } from '../helpers/auth.ts';
import { runningWith } from '../helpers/procs.ts';
import { privateStack } from '../helpers/private-stack.ts';
import type { PrivateStack } from '../helpers/private-stack.ts';
import { startApi, startWorker, stop } from '../helpers/stack.ts';
import { startHostPodSimulator } from '../helpers/kube-sim.ts';
import type { PodSimulator } from '../helpers/kube-sim.ts';
import { BatchV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { stopPid } from '../../src/dev/proc.ts';
import { startControlPlane } from '../../src/dev/services/kube/control-plane.ts';
import { TOOLS_NAMESPACE } from '../../src/dev/services/kube/layout.ts';
import { pidFile } from '../../src/dev/services/service.ts';
import type { Proc } from '../helpers/stack.ts';

const RUNS = Number(process.env.RELIABILITY_RUNS ?? 200);
const KUBE = process.env.RELIABILITY_SANDBOX === 'kubernetes';
/** In the command line of every step process, so the end can look for any left running. */
const MARK = `.${Date.now() % 100000}7`;

type Kind = 'file' | 'shell' | 'approval' | 'cancel';
interface Tracked { kind: Kind; id: string; events: SseMessage[]; reconnects: number; ended?: Promise<void>; acted: boolean; gaveUp?: string }
const KIND_OF = (i: number): Kind => (['file', 'file', 'file', 'file', 'shell', 'shell', 'approval', 'approval', 'cancel', 'file'] as const)[i % 10]!;
const EXPECTED: Record<Kind, string> = { file: 'completed', shell: 'completed', approval: 'completed', cancel: 'cancelled' };
const PROMPT: Record<Kind, (i: number) => string> = {
  file: (i) => `write_file r${i}/a.txt run ${i}\nread_file r${i}/a.txt\nwrite_file r${i}/b.txt done`,
  shell: () => `shell sleep 1${MARK}\nshell echo shell-done`,
  approval: (i) => `write_file r${i}/approved.txt yes`,
  cancel: () => `shell sleep 300${MARK}\nwrite_file never.txt x`,
};

describe('the fault suite', () => {
  let stack: PrivateStack;
  const user = `chaos-${Date.now().toString(36)}`;
  const faults: string[] = [];
  let env: Record<string, string>;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let client: ApiClient;
  let sim: PodSimulator | undefined;
  let admin: KubeConfig | undefined;
  let failed = false;
  const t0 = Date.now();
  const at = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

  const ctx = () => loadStackContext({ ...process.env, ...stack.vars });
  /** The worker, started again until it starts (it refuses while a dependency is down). */
  let workers = 0;
  /** Keeps what a worker wrote (under the stack's directory, kept when the suite fails). */
  const keepLog = (p: Proc | undefined, name: string) => { if (p) writeFileSync(join(stack.root, `${name}.log`), p.output()); };
  async function startWorkerEventually(): Promise<void> {
    keepLog(worker, `worker-${workers++}`);
    for (let attempt = 1; ; attempt++) {
      try {
        worker = await startWorker(env);
        return;
      } catch (err) {
        if (attempt >= 120) throw new Error(`the worker did not start in 2 minutes: ${(err as Error).message.slice(-2000)}`, { cause: err });
        await sleep(1000);
      }
    }
  }

  before(async () => {
    stack = await privateStack('chaos');
    await stack.dev('up', ...(KUBE ? ['--kube'] : []));
    const vars = stack.envFile();
    if (KUBE) ({ sim, admin } = await startHostPodSimulator(vars.AGENTRUN_KUBE_ADMIN_KUBECONFIG!, TOOLS_NAMESPACE));
    env = {
      ...vars, TEMPORAL_TASK_QUEUE: 'chaos', QUEUE_KEY_PREFIX: 'jobs-chaos:', NEW_USER_CREDITS: '0', BREAKER_FAILURES: '1000',
      AUTH_JWT_SECRET: vars.SUPABASE_JWT_SECRET!, DEFAULT_USER_ID: user, SANDBOX: KUBE ? 'kubernetes' : 'local',
      // Finished Jobs go after 5 s (600 by default, for a look): the end checks that all go.
      K8S_TTL_AFTER_FINISHED_S: '5', API_MAX_ACTIVE_RUNS: '100000', API_RATE_LIMIT: '1000000',
      SSE_MAX_STREAMS_PER_USER: '100000', RUN_CREDIT_RESERVATION: '120', WORKER_SHUTDOWN_GRACE_MS: '3000',
      // A cancel run's step outlasts any delay the chaos puts before its cancel (it must end cancelled, not timed out);
      // a step's hold is priced by its time limit, so each run reserves enough for one (RUN_CREDIT_RESERVATION).
      SHELL_TIMEOUT_MS: '900000', SHELL_TIMEOUT_MAX_MS: '900000',
      // One port across the API's restarts: the clients reconnect to the same URL.
      API_PORT: stack.vars.AGENTRUN_API_PORT!, API_SHUTDOWN_GRACE_MS: '2000',
    };
    const store = new PgStore({ databaseUrl: env.DATABASE_URL! });
    await store.grant(user, RUNS * 200, `grant:${user}`);
    await store.close();
    await startWorkerEventually();
    api = await startApi(env);
    const token = await mintToken(user, { secret: env.SUPABASE_JWT_SECRET });
    client = new ApiClient(api.url, () => token);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    keepLog(worker, `worker-${workers}`);
    keepLog(api, 'api');
    sim?.stop();
    await stack.dev('down').catch(() => undefined);
    if (failed) process.stdout.write(`the stack's directory is kept for a look: ${stack.root}\n`);
    else rmSync(stack.root, { recursive: true, force: true });
  });

  /**
   * Retries a call through outages: the API answers 5xx or cannot be reached while a dependency
   * is down, and answers 409 `idempotency_in_progress` (retry shortly) while an earlier attempt
   * with the same Idempotency-Key is still being processed (one slowed by an outage).
   */
  async function patiently<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (err) {
        const { status = 0, code } = err as { status?: number; code?: string };
        const again = status === 0 || status >= 500 || status === 429 || code === 'idempotency_in_progress';
        if (!again || i > 600) throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
        await sleep(500);
      }
    }
  }

  /** The chaos schedule, over and over until `done`: each fault once per round, with room between. */
  let rounds = 0;
  async function chaos(done: () => boolean): Promise<void> {
    const step = async (name: string, fn: () => Promise<void>) => {
      if (done()) return;
      const t = Date.now();
      await fn();
      faults.push(`${at()} ${name} (${Date.now() - t} ms)`);
      await sleep(6000);
    };
    const restart = (s: typeof temporal) => async () => { await s.stop(ctx()); await s.start(ctx()); };
    while (!done()) {
      await step('worker SIGKILL, started again', async () => { await stop(worker, 'SIGKILL'); await startWorkerEventually(); });
      await step('Temporal restarted', restart(temporal));
      await step('Redis restarted', restart(redis));
      await step('worker SIGTERM, started again', async () => { await stop(worker); await startWorkerEventually(); });
      await step('Postgres restarted', restart(postgres));
      await step('MinIO down 20 s', async () => { await minio.stop(ctx()); await sleep(20_000); await minio.start(ctx()); });
      await step('API SIGTERM, started again', async () => { await stop(api); api = await startApi(env); });
      if (KUBE) await step('apiserver down 10 s', async () => {
        await stopPid(pidFile(ctx(), 'kube-apiserver'));
        await sleep(10_000);
        await startControlPlane(ctx());
      });
      if (!done()) rounds += 1;
    }
  }

  it(`${RUNS} mixed runs under chaos: every run right, every event once and in order, the ledger whole, nothing left running`, async () => {
    const runs: Tracked[] = [];
    let finished = false;
    const chaosDone = chaos(() => finished);
    // Whatever ends this test, the chaos stops with it (else it restarts what after() stops, for ever).
    try {
      await workloadAndChecks();
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      finished = true;
      await chaosDone;
    }
    async function workloadAndChecks(): Promise<void> {
      // Starts, paced so the chaos meets runs at every stage; each under its own Idempotency-Key, retried through outages.
      for (let i = 0; i < RUNS; i++) {
        const kind = KIND_OF(i);
        const key = randomUUID();
        const run = await patiently(`start run ${i}`, () => client.startRun({ prompt: PROMPT[kind](i), requireApproval: kind === 'approval' }, key));
        const t: Tracked = { kind, id: run.id, events: [], reconnects: 0, acted: false };
        // A follower that gives up is a problem of its run, reported with the others (not the end of the suite).
        t.ended = (async () => {
          for await (const m of followRun(client, run.id, { giveUpAfterMs: 600_000, onReconnect: () => { t.reconnects += 1; } })) t.events.push(m);
        })().catch((err: unknown) => { t.gaveUp = (err as Error).message; });
        runs.push(t);
        // Ten runs every 4 s: the workload spans the chaos schedule, so each fault meets runs at every stage.
        if (i % 10 === 9) await sleep(4000);
      }
      // Approve what waits, cancel what runs, until every follower has its end.
      const deadline = Date.now() + 15 * 60_000;
      // Every fault at least once: runs still going are what the schedule is for, and it goes on until one round is done.
      while ((rounds === 0 || runs.some((r) => !r.events.some((m) => m.event === 'end'))) && Date.now() < deadline) {
        for (const r of runs.filter((x) => !x.acted && (x.kind === 'approval' || x.kind === 'cancel'))) {
          const waiting = r.kind === 'approval' ? r.events.some((m) => m.event === 'approval') : r.events.some((m) => m.event === 'step');
          if (!waiting) continue;
          await patiently(`${r.kind} ${r.id}`, () => client.control(r.id, r.kind === 'approval' ? 'approve' : 'cancel', r.kind === 'approval' ? { approved: true } : {}))
            .then(() => { r.acted = true; }, () => undefined);
        }
        await sleep(500);
      }
      finished = true;
      await Promise.race([Promise.all(runs.map((r) => r.ended ?? Promise.resolve())), sleep(60_000)]);
      await chaosDone;

      const problems: string[] = [];
      for (const r of runs) {
        const end = r.events.findLast((m) => m.event === 'end');
        const ending = end ? (JSON.parse(end.data) as { status: string; error?: { code: string; message: string } }) : { status: '(no end)' };
        if (ending.status !== EXPECTED[r.kind]) {
          const why = ending.error ? ` (${ending.error.code}: ${ending.error.message})` : '';
          const steps = r.events.filter((m) => m.event === 'step' && m.data.includes('"completed"')).map((m) => (JSON.parse(m.data) as { summary?: string }).summary).join(' | ');
          problems.push(`${r.id} (${r.kind}): ended ${ending.status}${why}, expected ${EXPECTED[r.kind]}; steps: ${steps}`);
        }
        if (r.gaveUp) problems.push(`${r.id} (${r.kind}): its follower gave up: ${r.gaveUp}`);
        const ids = r.events.map((m) => m.id);
        if (new Set(ids).size !== ids.length) problems.push(`${r.id}: an event received twice`);
        const whole: string[] = [];
        try {
          for await (const m of followRun(client, r.id, { giveUpAfterMs: 60_000 })) whole.push(m.id ?? '');
        } catch (err) {
          problems.push(`${r.id}: its stream could not be read afresh: ${(err as Error).message}`);
        }
        if (JSON.stringify(ids) !== JSON.stringify(whole)) problems.push(`${r.id}: received ${ids.length} events, the stream holds ${whole.length} (first difference at ${ids.findIndex((id, k) => id !== whole[k])})`);
      }
      const store = new PgStore({ databaseUrl: env.DATABASE_URL! });
      try {
        const sums = (await store.query<{ a: string; r: string }>('SELECT sum(available_delta) AS a, sum(reserved_delta) AS r FROM credit_ledger WHERE user_id = $1', [user])).rows[0]!;
        const balance = await store.balance(user);
        if (Number(sums.a) !== balance.available || Number(sums.r) !== balance.reserved) problems.push(`ledger sums ${sums.a}/${sums.r} != balance ${balance.available}/${balance.reserved}`);
        if (balance.reserved !== 0) problems.push(`${balance.reserved} credits still reserved`);
        const open = (await store.query<{ run_id: string }>(`SELECT run_id FROM credit_reservations WHERE user_id = $1 AND status = 'active' UNION SELECT run_id FROM credit_holds WHERE user_id = $1 AND status = 'held'`, [user])).rows;
        for (const o of open) problems.push(`${o.run_id}: a reservation or hold left open`);
      } finally {
        await store.close();
      }
      if (KUBE) {
        // Each finished Job goes after its TTL, its pod with it (the garbage collector): within a minute, none is left.
        const managed = { namespace: TOOLS_NAMESPACE, labelSelector: 'app.kubernetes.io/managed-by=agentrun' };
        let jobs: (string | undefined)[] = [];
        let pods: (string | undefined)[] = [];
        for (const until = Date.now() + 90_000; Date.now() < until; await sleep(2000)) {
          jobs = (await admin!.makeApiClient(BatchV1Api).listNamespacedJob(managed)).items.map((j) => j.metadata?.name);
          pods = (await admin!.makeApiClient(CoreV1Api).listNamespacedPod(managed)).items.map((p) => p.metadata?.name);
          if (jobs.length + pods.length === 0) break;
        }
        if (jobs.length + pods.length > 0) problems.push(`left in ${TOOLS_NAMESPACE} 90 s after the end: ${jobs.length} job(s) (${jobs.slice(0, 5).join(', ')}…), ${pods.length} pod(s)`);
      }
      const left = runningWith(MARK);
      if (left.length > 0) problems.push(`step processes left running: pids ${left.join(', ')}`);

      const byKind = (['file', 'shell', 'approval', 'cancel'] as const).map((k) => `${k} ${runs.filter((r) => r.kind === k).length}`).join(', ');
      const reconnects = runs.reduce((n, r) => n + r.reconnects, 0);
      process.stdout.write([
        `fault suite: ${runs.length} runs (${byKind}) in ${at()}, ${reconnects} client reconnects`,
        `  ports: ${Object.entries(stack.vars).filter(([k]) => k.endsWith('_PORT')).map(([k, v]) => `${k.slice('AGENTRUN_'.length, -'_PORT'.length).toLowerCase()} ${v}`).join(', ')}`,
        ...faults.map((f) => `  fault ${f}`),
        problems.length === 0 ? '  every run right, every event once and in order, ledger == balance, nothing open, nothing left running' : `  ${problems.length} problem(s):`,
        ...problems.map((p) => `    ${p}`),
      ].join('\n') + '\n');
      failed = problems.length > 0;
      assert.deepEqual(problems, []);
    }
  });
});
