/**
 * The gates on every step, on the real dev server with plain-object fake
 * activities: each step and each LLM call is held before it starts (a hold that
 * does not fit waits for a human, and a rejection leaves the step unrun and
 * unpaid), every plan change that adds a gated step waits for approval again,
 * a model-chosen time limit is cut to the maximum, a cancelled step pays for the
 * time it ran. With RECORD_FIXTURES=1 their histories become replay fixtures.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { WorkflowHandle } from '@temporalio/client';
import { WORKFLOW_TYPE } from '../../src/shared/names.ts';
import { LLM_REQUEST_OVERHEAD_BYTES } from '../../src/shared/pricing.ts';
import type { Plan, PlanStep, RunInput } from '../../src/shared/run.ts';
import { approveSignal, statusQuery } from '../../src/workflows/definitions.ts';
import type { AgentRun } from '../../src/workflows/agent-run.ts';
import { fakeActivities, localEnv, names, runInput, workflowBundle } from '../helpers/workflow-env.ts';
import { workerTracingOptions } from '../../src/worker/tracing.ts';
import type { FakeOptions, Recorded } from '../helpers/workflow-env.ts';
import { waitUntil } from '../helpers/stack.ts';

const FIXTURES = new URL('../fixtures/', import.meta.url);
const shell = (...argv: string[]): PlanStep => ({ tool: 'shell', argv });
const write = (path: string): PlanStep => ({ tool: 'write_file', path, content: 'x' });
const planOf = (...steps: PlanStep[]): Plan => ({ summary: 'test plan', steps });
const inputs = <T>(rec: Recorded, name: string) => rec.calls.filter((c) => c.name === name).map((c) => c.input as T);
type HoldCall = { index: number | null; amount: number; tokens: number; key: string };
type SettleCall = { holdKey: string; amount: number; partial?: string };

describe('AgentRun gates on every step', () => {
  let env: TestWorkflowEnvironment;
  let n = 0;

  before(async () => {
    env = await localEnv();
    await workflowBundle();
  });
  after(async () => env?.teardown());

  async function run(fake: FakeOptions, input: RunInput, drive?: (h: WorkflowHandle<typeof AgentRun>, rec: Recorded) => Promise<void>, fixture?: string) {
    const taskQueue = `wf-gates-${n++}`;
    const { activities, rec } = fakeActivities(fake);
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities, ...(await workerTracingOptions(undefined)) });
    const outcome = await worker.runUntil(async () => {
      const h = await env.client.workflow.start<typeof AgentRun>(WORKFLOW_TYPE, { taskQueue, workflowId: input.runId, args: [input] });
      if (drive) await drive(h, rec);
      const result = await h.result().then((r) => ({ ok: true as const, r }), (e: unknown) => ({ ok: false as const, e }));
      if (fixture && process.env.RECORD_FIXTURES === '1') writeFileSync(new URL(`${fixture}.json`, FIXTURES), historyToJSON(await h.fetchHistory()));
      return result;
    });
    return { outcome, rec };
  }
  const waiting = (h: WorkflowHandle<typeof AgentRun>) =>
    waitUntil('awaiting approval', async () => { const s = await h.query(statusQuery); return s.status === 'awaiting_approval' && s; }, 20_000);

  it('budget 1: a shell step\'s hold (its price at the time limit) does not fit, so the run waits before running it; rejecting leaves it unrun and unpaid', async () => {
    const { outcome, rec } = await run({ plans: [planOf(shell('sleep', '50'))], budget: 1 }, runInput({ creditReservation: 1 }), async (h) => {
      const s = await waiting(h);
      assert.equal(s.waitingFor?.kind, 'budget');
      assert.match(s.waitingFor.detail, /step 0 \(shell\) needs 7 credit\(s\) up front; the run has 1 left/);
      await h.signal(approveSignal, { approved: false, comment: 'not paying' });
    }, 'budget-hold-rejected');
    assert.ok(outcome.ok);
    assert.equal(outcome.r.status, 'cancelled');
    assert.deepEqual(outcome.r.error, { code: 'rejected', message: 'rejected: not paying' });
    assert.ok(!names(rec).includes('runStep'), 'nothing ran');
    assert.equal(rec.charged, 0);
    assert.deepEqual(inputs<HoldCall>(rec, 'hold').map((x) => x.amount), [7]);
    assert.ok(!names(rec).includes('settleHold'));
    assert.ok(names(rec).includes('releaseCredits'));
  });

  it('an LLM call is held at max_tokens plus its input bound before the model is called; a budget too small waits first', async () => {
    const input = runInput({ provider: 'anthropic', creditReservation: 3 });
    input.limits.llmMaxTokens = 4096;
    const { outcome, rec } = await run({ plans: [planOf(write('a'))], budget: 3 }, input, async (h, r) => {
      const s = await waiting(h);
      assert.equal(s.waitingFor?.kind, 'budget');
      assert.ok(!r.calls.some((c) => c.name === 'plan'), 'the model was not called');
      await h.signal(approveSignal, { approved: true, extraCredits: 100 });
    });
    assert.ok(outcome.ok);
    assert.equal(outcome.r.status, 'completed');
    const holds = inputs<HoldCall>(rec, 'hold');
    assert.equal(holds[0]!.index, null);
    assert.ok(holds[0]!.tokens >= 4096 + LLM_REQUEST_OVERHEAD_BYTES, `held ${holds[0]!.tokens} tokens`);
    assert.equal(holds[0]!.amount, Math.ceil(holds[0]!.tokens / 1000));
    const order = names(rec).filter((x) => x === 'hold' || x === 'plan' || x === 'settleHold').slice(0, 4);
    assert.deepEqual(order, ['hold', 'hold', 'plan', 'settleHold'], 'refused hold, hold, call, settle');
    // plan 1500 tokens → 2; step 1; supervise 500 → 1: actual costs, not the holds.
    assert.equal(rec.charged, 2 + 1 + 1);
    assert.deepEqual(inputs<{ amount: number }>(rec, 'extendReservation').map((x) => x.amount), [100]);
  });

  it('a hold that does not fit waits; an approval extends the reservation; the step is settled to its actual cost', async () => {
    const { outcome, rec } = await run({ plans: [planOf(write('a'), shell('true'))], budget: 5 }, runInput({ creditReservation: 5 }), async (h) => {
      const s = await waiting(h);
      assert.equal(s.waitingFor?.kind, 'budget');
      assert.equal(s.creditsCharged, 1);
      await h.signal(approveSignal, { approved: true, extraCredits: 10 });
    }, 'budget-hold-extended');
    assert.ok(outcome.ok);
    assert.equal(outcome.r.status, 'completed');
    assert.equal(outcome.r.creditsCharged, 1 + 2);
    const approval = rec.events.find((e) => e.type === 'approval' && e.data.kind === 'budget' && e.data.needed !== undefined)!;
    assert.deepEqual([approval.data.needed, approval.data.left], [7, 4]);
    assert.deepEqual(inputs<SettleCall>(rec, 'settleHold').map((x) => x.amount), [1, 2]);
  });

  it('APPROVAL_TOOLS=shell: a supervisor retry that swaps in a shell step waits for approval again, showing old and new step', async () => {
    const input = runInput({ provider: 'anthropic' });
    input.limits.approvalTools = ['shell'];
    const { outcome, rec } = await run({
      plans: [planOf(write('a'))],
      decisions: [{ action: 'retry', reason: 'use a shell instead', step: shell('sh', '-c', 'echo sneaky') }, { action: 'finish', reason: 'done', outcome: 'completed' }],
    }, input, async (h, r) => {
      const s = await waiting(h);
      assert.equal(s.waitingFor?.kind, 'approval');
      assert.equal(s.waitingFor.detail, 'the supervisor\'s retry adds shell step(s)');
      assert.equal(r.calls.filter((c) => c.name === 'runStep').length, 1, 'the new step has not run');
      await h.signal(approveSignal, { approved: true, comment: 'fine' });
    }, 'retry-reapproval');
    assert.ok(outcome.ok);
    assert.equal(outcome.r.status, 'completed');
    const asked = rec.events.find((e) => e.type === 'approval' && e.data.change !== undefined)!;
    const change = asked.data.change as { kind: string; before: PlanStep[]; after: PlanStep[] };
    assert.equal(change.kind, 'retry');
    assert.deepEqual(change.before, [write('a')]);
    assert.deepEqual(change.after, [{ ...shell('sh', '-c', 'echo sneaky'), timeoutMs: 60_000 }]);
    assert.deepEqual(inputs<{ step: PlanStep }>(rec, 'runStep').map((x) => x.step.tool), ['write_file', 'shell']);
  });

  it('APPROVAL_TOOLS=shell: a replan that adds a shell step waits for approval again; a rejection cancels before it runs', async () => {
    const input = runInput({ provider: 'anthropic' });
    input.limits.approvalTools = ['shell'];
    const { outcome, rec } = await run({
      plans: [planOf(write('a')), planOf(write('a'), shell('curl', 'http://example.com'))],
      decisions: [{ action: 'replan', reason: 'need the network' }],
    }, input, async (h) => {
      const s = await waiting(h);
      assert.equal(s.waitingFor!.detail, 'the new plan adds shell step(s)');
      await h.signal(approveSignal, { approved: false, comment: 'no network' });
    }, 'replan-reapproval-rejected');
    assert.ok(outcome.ok);
    assert.equal(outcome.r.status, 'cancelled');
    assert.equal(outcome.r.error?.code, 'rejected');
    assert.deepEqual(inputs<{ step: PlanStep }>(rec, 'runStep').map((x) => x.step.tool), ['write_file']);
    const change = rec.events.find((e) => e.type === 'approval' && e.data.change !== undefined)!.data.change as { before: PlanStep[]; after: PlanStep[] };
    assert.deepEqual([change.before.length, change.after.length], [1, 2]);
  });

  it('requireApproval: a retry of the same step needs no new approval, a changed step does', async () => {
    const { outcome, rec } = await run({
      plans: [planOf(write('a'))],
      decisions: [
        { action: 'retry', reason: 'again' },
        { action: 'retry', reason: 'other file', step: write('b') },
        { action: 'finish', reason: 'done', outcome: 'completed' },
      ],
    }, runInput({ provider: 'anthropic', requireApproval: true }), async (h, r) => {
      await waiting(h);
      await h.signal(approveSignal, { approved: true });
      await waitUntil('second approval asked', () => r.events.filter((e) => e.type === 'approval' && e.data.detail !== undefined).length === 2, 20_000);
      const s = await waiting(h);
      assert.match(s.waitingFor!.detail, /retry changes the plan/);
      assert.equal(r.calls.filter((c) => c.name === 'runStep').length, 2, 'the unchanged retry ran without asking');
      await h.signal(approveSignal, { approved: true });
    });
    assert.ok(outcome.ok);
    assert.equal(outcome.r.status, 'completed');
    assert.deepEqual(inputs<{ step: { path: string } }>(rec, 'runStep').map((x) => x.step.path), ['a', 'a', 'b']);
  });

  it('a model-chosen timeoutMs above SHELL_TIMEOUT_MAX_MS is cut to it, the log says so, and the hold is priced at the cut limit', async () => {
    const input = runInput();
    input.limits.shellTimeoutMs = 30_000;
    input.limits.shellTimeoutMaxMs = 120_000;
    const { outcome, rec } = await run({ plans: [planOf({ tool: 'shell', argv: ['sleep', '3000'], timeoutMs: 3_600_000 }, shell('true'))] }, input, undefined, 'timeout-clamped');
    assert.ok(outcome.ok);
    assert.deepEqual(inputs<{ step: { timeoutMs?: number } }>(rec, 'runStep').map((x) => x.step.timeoutMs), [120_000, 30_000]);
    assert.deepEqual(inputs<HoldCall>(rec, 'hold').map((x) => x.amount), [1 + 12, 1 + 3]);
    const note = rec.events.find((e) => e.type === 'log' && e.data.stream === 'gate')!;
    assert.match(String(note.data.text), /plan step 0: timeoutMs 3600000 is above the maximum of 120000; cut to 120000/);
  });

  it('cancelled during an LLM call: the call pays one credit (its usage is unknown), then the rest is released', async () => {
    const { outcome, rec } = await run({ plans: [planOf(write('a'))], planHangs: true }, runInput({ provider: 'anthropic' }), async (h, r) => {
      await waitUntil('model called', () => r.calls.some((c) => c.name === 'plan'));
      await h.cancel();
    });
    assert.ok(!outcome.ok);
    assert.deepEqual(inputs<SettleCall>(rec, 'settleHold').map((x) => [x.amount, x.partial]), [[1, 'cancelled mid-way']]);
    assert.ok(names(rec).indexOf('settleHold') < names(rec).indexOf('releaseCredits'));
    assert.ok(!names(rec).includes('runStep'));
  });

  it('cancelled mid-step: the step pays for the time it ran (at least its base price), then the rest is released', async () => {
    const { outcome, rec } = await run({ plans: [planOf(shell('sleep', '60'))], step: () => new Promise(() => undefined) }, runInput(), async (h, r) => {
      await waitUntil('step running', () => r.calls.some((c) => c.name === 'runStep'));
      await h.cancel();
    }, 'cancelled-mid-step-held');
    assert.ok(!outcome.ok);
    const settles = inputs<SettleCall>(rec, 'settleHold');
    assert.equal(settles.length, 1);
    assert.equal(settles[0]!.partial, 'cancelled mid-way');
    assert.ok(settles[0]!.amount >= 2 && settles[0]!.amount <= 7, `charged ${settles[0]!.amount}`);
    const order = names(rec);
    assert.ok(order.indexOf('settleHold') < order.indexOf('releaseCredits'), 'settled before the release');
    assert.equal(rec.events.at(-1)!.type, 'end');
  });
});
