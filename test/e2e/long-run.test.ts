/**
 * A 500-step run (offline provider, trivial steps) completes through
 * continue-as-new, and no execution's history comes near Temporal's warning
 * limits (10,240 events, 10 MB). Its 10 KB prompt travels by reference.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { collect, createRun, parse } from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

// 500 steps take minutes on a loaded 2-core machine: a deadline of their own (test/run.ts starts this file first).
describe('a 500-step run', { timeout: 600_000 }, () => {
  let c: Clients;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;

  before(async () => {
    c = await connectClients();
    const user = await newUser(c, 1000, 'long');
    const env = {
      ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('long'), DEFAULT_USER_ID: user, MAX_ITERATIONS: '1000', RUN_CREDIT_RESERVATION: '600',
    };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c.close();
  });

  it('completes through continue-as-new with every history far below the warning limits', async () => {
    const prompt = Array.from({ length: 500 }, (_, i) => `write_file out/${String(i).padStart(3, '0')}.txt step ${i}`).join('\n');
    assert.ok(Buffer.byteLength(prompt) > 8192, 'the prompt is large enough to travel by reference');
    const id = await createRun(api!.url, prompt);
    const events = await collect(api!.url, id, { timeoutMs: 560_000 });
    const end = parse(events.at(-1)!);
    assert.equal(end.status, 'completed', JSON.stringify(end));
    assert.equal(end.steps, 500);
    assert.equal(end.credits, 500);

    const executions = [];
    for await (const e of c.temporal.workflow.list({ query: `WorkflowId = "${id}"` })) executions.push(e);
    assert.ok(executions.length >= 5, `${executions.length} executions`);
    for (const e of executions) {
      const history = await c.temporal.workflow.getHandle(id, e.runId).fetchHistory();
      const count = history.events?.length ?? 0;
      const bytes = Buffer.byteLength(JSON.stringify(history));
      assert.ok(count < 10_240 / 2, `execution ${e.runId}: ${count} events`);
      assert.ok(bytes < 10 * 1024 * 1024 / 4, `execution ${e.runId}: ${bytes} bytes`);
    }
    const steps = await c.store.query<{ n: string }>('SELECT count(*) AS n FROM agent_steps WHERE run_id = $1 AND status = $2', [id, 'completed']);
    assert.equal(Number(steps.rows[0]!.n), 500);
  });
});
