/**
 * `./dev backup` and `./dev restore` on a stack of its own (its own data directory and
 * ports): runs in every state — completed, awaiting approval, paused, a step running —
 * are saved while the stack runs, the stack is destroyed (processes stopped, the data
 * directory removed), and the backup restored onto a new one. Then every unfinished run
 * finishes, the finished one reads the same (and forks from an earlier step: the
 * workspace's versions came back too), a client that followed a run reconnects
 * with its Last-Event-ID and misses nothing, and the ledger sums to the balances. First,
 * `./dev demo` on the fresh stack: its run completes and what it prints at the end works.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readSse } from '../../src/client/sse.ts';
import type { SseMessage } from '../../src/client/sse.ts';
import { PgStore } from '../../src/store/pg.ts';
import { mintToken } from '../helpers/auth.ts';
import { runCli } from '../helpers/cli.ts';
import { privateStack } from '../helpers/private-stack.ts';
import type { PrivateStack } from '../helpers/private-stack.ts';
import { startApi, startWorker, stop, waitUntil } from '../helpers/stack.ts';
import type { Proc } from '../helpers/stack.ts';

describe('backup and restore of a whole stack', () => {
  let stack: PrivateStack;
  let data: string;
  let saved: string;
  let env: Record<string, string>;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let token: string;
  const user = `backup-${Date.now().toString(36)}`;
  const dev = (...args: string[]) => stack.dev(...args);
  function readEnv(): Record<string, string> {
    const vars = stack.envFile();
    return { ...vars, TEMPORAL_TASK_QUEUE: 'backup-restore', QUEUE_KEY_PREFIX: 'jobs-backup:', NEW_USER_CREDITS: '0', BREAKER_FAILURES: '1000', AUTH_JWT_SECRET: vars.SUPABASE_JWT_SECRET! };
  }
  async function startApp() {
    env = readEnv();
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
    token = await mintToken(user, { secret: env.SUPABASE_JWT_SECRET });
  }
  async function call(method: string, path: string, body?: unknown) {
    const res = await fetch(`${api!.url}${path}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: await res.json().catch(() => undefined) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  }
  const start = async (prompt: string, extra: Record<string, unknown> = {}) => {
    const r = await call('POST', '/v1/runs', { prompt, ...extra });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.id as string;
  };
  const statusOf = async (id: string) => (await call('GET', `/v1/runs/${id}`)).body.status as string;
  const reach = (id: string, status: string, timeoutMs = 60_000) => waitUntil(`${id} ${status}`, async () => (await statusOf(id)) === status, timeoutMs);
  /** Every event of a run from `after` (or the start) until `until` says stop or the stream ends. */
  async function events(id: string, opts: { after?: string; signal?: AbortSignal; onEvent?: (m: SseMessage) => void } = {}): Promise<SseMessage[]> {
    const out: SseMessage[] = [];
    try {
      for await (const m of readSse(`${api!.url}/v1/runs/${id}/events`, { lastEventId: opts.after, signal: opts.signal, headers: { authorization: `Bearer ${token}` } })) {
        out.push(m);
        opts.onEvent?.(m);
      }
    } catch (err) {
      if (!opts.signal?.aborted) throw err;
    }
    return out;
  }

  before(async () => {
    stack = await privateStack('backup');
    data = stack.vars.AGENTRUN_DATA_DIR!;
    saved = join(stack.root, 'backup');
    await dev('up');
    await startApp();
    const store = new PgStore({ databaseUrl: env.DATABASE_URL! });
    await store.grant(user, 500, `grant:${user}`);
    await store.close();
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await dev('down').catch(() => undefined);
    rmSync(stack.root, { recursive: true, force: true });
  });

  it('./dev demo on a fresh stack runs its run to completed and ends with the page, the CLI command and the Web UI link, each of which works', async () => {
    const out = await dev('demo');
    const id = /\nrun (run_[0-9a-z]+) completed\n/.exec(out)?.[1];
    assert.ok(id, out);
    const base = `http://127.0.0.1:${stack.vars.AGENTRUN_API_PORT}`;
    assert.ok(out.includes(`on the web page:   ${base}/#/runs/${id}`), out);
    const command = new RegExp(`from a terminal: +npx agentrun (logs ${id} --follow --url \\S+)`).exec(out)?.[1];
    assert.ok(command, out);
    assert.match(out, new RegExp(`Temporal Web UI: +http://127\\.0\\.0\\.1:${stack.vars.AGENTRUN_TEMPORAL_UI_PORT}/namespaces/default/workflows/${id}`));
    // The page it names is served; the command it prints follows the run to its end (exit 0).
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    const cli = await runCli(command.split(' '), { HOME: stack.root, AGENTRUN_TOKEN: '', AGENTRUN_URL: '' }).done;
    assert.equal(cli.code, 0, cli.stdout + cli.stderr);
    assert.match(cli.stdout, /completed/);
  });

  it('runs in every state survive backup → stack destroyed → restore, and nothing is lost or counted twice', async () => {
    // Each state a run can be saved in.
    const done = await start('write_file a.txt hello\nwrite_file a.txt world\nwrite_file b.txt two');
    await reach(done, 'completed');
    const awaiting = await start('write_file b.txt approved', { requireApproval: true });
    const paused = await start('shell sleep 1\nwrite_file c.txt resumed');
    assert.equal((await call('POST', `/v1/runs/${paused}/pause`, {})).status, 202);
    const running = await start('shell sleep 12\nwrite_file d.txt done');
    await Promise.all([reach(awaiting, 'awaiting_approval'), reach(paused, 'paused'), reach(running, 'running')]);

    // A client follows the running run until the backup, and resumes after the restore.
    const follower = new AbortController();
    let seenStep = false;
    const before = events(running, { signal: follower.signal, onEvent: (m) => { if (m.event === 'step') seenStep = true; } });
    await waitUntil('the running step announced', () => seenStep);
    const doneView = (await call('GET', `/v1/runs/${done}`)).body;
    const doneEvents = await events(done);

    // It stops before the backup: events it saw after the backup's snapshot would be lost with
    // the machine (the restored run does that work again, with new ids; on a slow machine the
    // step ended during the backup), so only what it saw before is the restored stream's.
    follower.abort();
    const seen = await before;
    const cursor = seen.at(-1)!.id!;
    const out = await dev('backup', saved);
    assert.match(out, /temporal +saved[\s\S]*postgres +saved[\s\S]*redis +saved[\s\S]*s3 +saved/, 'Temporal first, then the stores at least as new');

    // The machine is lost: every process stopped, the data directory gone.
    await Promise.all([stop(api, 'SIGKILL'), stop(worker, 'SIGKILL')]);
    await dev('down');
    rmSync(data, { recursive: true, force: true });
    await assert.rejects(dev('restore', join(stack.root, 'nothing')), /holds no backup/);

    const restored = await dev('restore', saved);
    assert.match(restored, /temporal +restored[\s\S]*postgres +restored[\s\S]*redis +restored[\s\S]*s3 +restored \d+ object/);
    await startApp();

    // The finished run reads the same: view, events, its file.
    assert.deepEqual((await call('GET', `/v1/runs/${done}`)).body, doneView);
    assert.deepEqual(await events(done), doneEvents);
    const file = await fetch(`${api!.url}/v1/runs/${done}/files/a.txt`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(await file.text(), 'world');
    // Its workspace's history came back too: a fork from step 1 starts with the file as step 1 left it.
    const fork = await call('POST', `/v1/runs/${done}/fork`, { fromStep: 1, requireApproval: true });
    assert.equal(fork.status, 202, JSON.stringify(fork.body));
    await reach(fork.body.id as string, 'awaiting_approval');
    const forked = await fetch(`${api!.url}/v1/runs/${fork.body.id}/files/a.txt`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(await forked.text(), 'hello');
    assert.equal((await call('POST', `/v1/runs/${fork.body.id}/cancel`, {})).status, 202);

    // Every unfinished run finishes.
    assert.equal((await call('POST', `/v1/runs/${awaiting}/approve`, { approved: true })).status, 202);
    assert.equal((await call('POST', `/v1/runs/${paused}/resume`, {})).status, 202);
    const rest = await events(running, { after: cursor });
    for (const id of [awaiting, paused, running]) await reach(id, 'completed', 90_000);

    // The follower missed nothing and saw nothing twice: its two halves are the whole stream.
    const whole = await events(running);
    // On a slow machine the run can finish before the follower stops: it then had its `end`, and
    // the stream resumed after it says only that the run is over (a synthetic end, no id).
    const resumed = rest.filter((m) => m.id !== undefined);
    if (resumed.length < rest.length) {
      assert.equal(seen.at(-1)!.event, 'end', `an id-less message only after the run's own end: ${JSON.stringify(rest.slice(-2))}`);
      assert.deepEqual(rest, [{ id: undefined, event: 'end', data: JSON.stringify({ status: 'completed', synthetic: true }) }]);
    }
    assert.deepEqual([...seen, ...resumed].map((m) => m.id), whole.map((m) => m.id), `the resumed stream ended with ${JSON.stringify(rest.slice(-2))}`);
    assert.equal(whole.at(-1)!.event, 'end');
    assert.equal((JSON.parse(whole.at(-1)!.data) as { status: string }).status, 'completed');

    // The ledger sums to the balance; no reservation or hold is left open.
    const store = new PgStore({ databaseUrl: env.DATABASE_URL! });
    try {
      const sums = (await store.query<{ a: string; r: string }>('SELECT sum(available_delta) AS a, sum(reserved_delta) AS r FROM credit_ledger WHERE user_id = $1', [user])).rows[0]!;
      const balance = await store.balance(user);
      assert.deepEqual({ available: Number(sums.a), reserved: Number(sums.r) }, balance);
      assert.equal(balance.reserved, 0);
      const open = await store.query<{ n: string }>(`SELECT (SELECT count(*) FROM credit_reservations WHERE user_id = $1 AND status = 'active') + (SELECT count(*) FROM credit_holds WHERE user_id = $1 AND status = 'held') AS n`, [user]);
      assert.equal(Number(open.rows[0]!.n), 0);
      const charges = await store.query<{ step_index: number; n: string }>(`SELECT step_index, count(*) AS n FROM credit_ledger WHERE run_id = $1 AND kind = 'charge' AND step_index IS NOT NULL GROUP BY step_index ORDER BY step_index`, [running]);
      assert.deepEqual(charges.rows.map((r) => [r.step_index, Number(r.n)]), [[0, 1], [1, 1]], 'the step cut by the loss ran again, and each step was charged once');
    } finally {
      await store.close();
    }

    // A stack that holds runs is not overwritten by accident.
    await assert.rejects(dev('restore', saved), /this stack holds \d+ run\(s\): a restore replaces all its data; pass --replace/);
  });
});
