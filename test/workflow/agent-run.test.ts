/**
 * AgentRun's logic on the real dev server (TestWorkflowEnvironment with the
 * installed binary) with plain-object fake activities: approval gate, pause and
 * resume, budgets, the supervisor's decisions, limits, cancellation, and
 * continue-as-new. With RECORD_FIXTURES=1 (npm run record-fixtures) their histories
 * become the replay fixtures in test/fixtures/.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Context } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { WorkflowHandle } from '@temporalio/client';
import { WORKFLOW_TYPE } from '../../src/shared/names.ts';
import type { Plan, RunInput } from '../../src/shared/run.ts';
import { approveSignal, DIRECT_ACTOR, messageSignal, pauseSignal, progressQuery, resumeSignal, statusQuery } from '../../src/workflows/definitions.ts';
import type { AgentRun } from '../../src/workflows/agent-run.ts';
import { fakeActivities, localEnv, names, runInput, workflowBundle } from '../helpers/workflow-env.ts';
import { workerTracingOptions } from '../../src/worker/tracing.ts';
import type { FakeOptions, Recorded } from '../helpers/workflow-env.ts';
import type { RunPaidStepInput } from '../../src/activities/index.ts';
import { waitUntil } from '../helpers/stack.ts';
import { historyCalls } from '../helpers/runs.ts';

const FIXTURES = new URL('../fixtures/', import.meta.url);
const plan = (...tools: ('write_file' | 'read_file' | 'shell')[]): Plan => ({
  summary: 'test plan',
  steps: tools.map((t, i) => (t === 'shell' ? { tool: 'shell', argv: ['echo', String(i)] } : t === 'read_file' ? { tool: 'read_file', path: `f${i}` } : { tool: 'write_file', path: `f${i}`, content: 'x' })),
});

describe('AgentRun workflow logic', () => {
  let env: TestWorkflowEnvironment;
  let n = 0;

  before(async () => {
    env = await localEnv();
    await workflowBundle();
  });
  after(async () => env?.teardown());

  /** Runs one workflow with fake activities; `drive` interacts with it while it runs. */
  async function run(fake: FakeOptions, input: RunInput, drive?: (h: WorkflowHandle<typeof AgentRun>, rec: Recorded) => Promise<void>, fixture?: string, workflowTaskTimeout?: string) {
    const taskQueue = `wf-logic-${n++}`;
    const { activities, rec } = fakeActivities(fake);
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities, ...(await workerTracingOptions(undefined)) });
    const outcome = await worker.runUntil(async () => {
      const h = await env.client.workflow.start<typeof AgentRun>(WORKFLOW_TYPE, { taskQueue, workflowId: input.runId, args: [input], workflowTaskTimeout });
      if (drive) await drive(h, rec);
      const result = await h.result().then((r) => ({ ok: true as const, r }), (e: unknown) => ({ ok: false as const, e }));
      if (fixture && process.env.RECORD_FIXTURES === '1') {
        const history = await h.fetchHistory();
        writeFileSync(new URL(`${fixture}.json`, FIXTURES), historyToJSON(history));
      }
      return result;
    });
    return { outcome, rec };
  }

  const waitStatus = (h: WorkflowHandle<typeof AgentRun>, status: string) =>
    waitUntil(`status ${status}`, async () => (await h.query(statusQuery)).status === status, 20_000);

  it('runs reserve → plan → steps → settle, charging each step and each LLM call', async () => {
    const { outcome, rec } = await run({ plans: [plan('write_file', 'shell', 'read_file')] }, runInput({ provider: 'anthropic' }), undefined, 'anthropic-three-steps');
    assert.ok(outcome.ok);
    assert.equal(outcome.r.status, 'completed');
    // Each step is one activity that holds, runs and settles (runPaidStep; its parts are the fakes' hold, runStep, settleHold).
    assert.deepEqual(names(rec).filter((x) => !['charge', 'hold', 'settleHold', 'runStep'].includes(x)), ['openRun', 'reserveCredits', 'plan', 'runPaidStep', 'supervise', 'runPaidStep', 'supervise', 'runPaidStep', 'supervise', 'closeRun', 'settleCredits']);
    // plan 1500 tokens → 2 credits; 3 supervise calls of 500 → 1 each; steps 1 + 2 + 1.
    assert.equal(rec.charged, 2 + 3 + 4);
    assert.deepEqual(rec.events.at(-1)!.type, 'end');
  });

  it('waits at the approval gate when the run asks for it; approve lets it proceed', async () => {
    const { outcome, rec } = await run({ plans: [plan('write_file')] }, runInput({ requireApproval: true }), async (h) => {
      await waitStatus(h, 'awaiting_approval');
      const progress = await h.query(progressQuery);
      assert.equal(progress.waitingFor?.kind, 'approval');
      await h.signal(approveSignal, { approved: true, comment: 'looks fine' });
    }, 'approval-approved');
    assert.ok(outcome.ok);
    assert.equal(outcome.r.status, 'completed');
    assert.ok(rec.events.some((e) => e.type === 'approval' && e.data.approved === true && e.data.comment === 'looks fine'));
  });

  it('gates plans that use a tool configured as needing approval; a rejection cancels and releases', async () => {
    const input = runInput();
    input.limits.approvalTools = ['shell'];
    const { outcome, rec } = await run({ plans: [plan('write_file', 'shell')] }, input, async (h) => {
      await waitStatus(h, 'awaiting_approval');
      assert.match((await h.query(statusQuery)).waitingFor!.detail, /uses shell/);
      await h.signal(approveSignal, { approved: false, comment: 'no shell today' });
    }, 'approval-rejected');
    assert.ok(outcome.ok);
    assert.equal(outcome.r.status, 'cancelled');
    assert.deepEqual(outcome.r.error, { code: 'rejected', message: 'rejected: no shell today' });
    assert.ok(!names(rec).includes('runStep'));
    assert.ok(names(rec).includes('releaseCredits') && !names(rec).includes('settleCredits'));
  });

  /**
   * Runs `tools`, sending `pause` while step 0 runs; once the run is paused, `before` steps have
   * run (none starts while paused); then `resume`, and the run completes. The records, for more.
   */
  const pauseDuringFirstStep = async (tools: Parameters<typeof plan>, before: number, fixture?: string): Promise<Recorded> => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const { outcome, rec } = await run({ plans: [plan(...tools)], step: async (_s, i) => { if (i === 0) await gate; return {}; } }, runInput(), async (h, r) => {
      await waitUntil('first step running', () => r.calls.some((c) => c.name === 'runStep'));
      await h.signal(pauseSignal);
      release();
      await waitStatus(h, 'paused');
      assert.equal(r.calls.filter((c) => c.name === 'runStep').length, before, `${before} step(s) ran before the pause, none while paused`);
      await h.signal(resumeSignal);
    }, fixture);
    assert.ok(outcome.ok);
    assert.equal(outcome.r.status, 'completed');
    return rec;
  };

  // The first step is an activity: a signal is seen when the workflow task after it starts (file steps,
  // local activities, run back to back inside one workflow task: one sent meanwhile is seen when it ends).
  it('pauses before the next step on `pause` and goes on after `resume`', async () => {
    const rec = await pauseDuringFirstStep(['shell', 'write_file'], 1, 'pause-resume');
    assert.deepEqual(rec.statuses.filter((s) => s === 'paused' || s === 'running').slice(-2), ['paused', 'running']);
  });

  it('sees a pause sent during back-to-back file steps when their workflow task ends: before the step after the next activity', async () => {
    // Steps 0 and 1 ran in the task that was running when the signal came; step 2, an activity, ended it.
    const rec = await pauseDuringFirstStep(['write_file', 'write_file', 'shell', 'write_file'], 3);
    assert.equal(rec.calls.filter((c) => c.name === 'runStep').length, 4);
  });

  it('puts the actor a signal names on the events it causes; a signal without one is temporal-direct', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const { outcome, rec } = await run({ plans: [plan('shell', 'write_file')], step: async (_s, i) => { if (i === 0) await gate; return {}; } }, runInput({ requireApproval: true }), async (h, r) => {
      await waitStatus(h, 'awaiting_approval');
      await h.signal(approveSignal, { approved: true, comment: 'ok', actor: 'alice' });
      await waitUntil('first step running', () => r.calls.some((c) => c.name === 'runStep'));
      await h.signal(pauseSignal, { actor: 'bob' });
      release();
      await waitStatus(h, 'paused');
      await h.signal(resumeSignal); // as `temporal workflow signal --name resume` sends it
    }, 'actor-signals');
    assert.ok(outcome.ok);
    assert.equal(outcome.r.status, 'completed');
    assert.equal(rec.events.find((e) => e.type === 'approval' && e.data.approved === true)?.data.actor, 'alice');
    const paused = rec.events.findIndex((e) => e.type === 'status' && e.data.status === 'paused');
    assert.equal(rec.events[paused]!.data.actor, 'bob');
    assert.equal(rec.events.slice(paused).find((e) => e.type === 'status' && e.data.status === 'running')?.data.actor, DIRECT_ACTOR);
  });

  it('when the budget runs out, waits for approval, extends the reservation, then goes on without overspending', async () => {
    const { outcome, rec } = await run({ plans: [plan('write_file', 'write_file', 'write_file')], budget: 2 }, runInput(), async (h) => {
      await waitStatus(h, 'awaiting_approval');
      const s = await h.query(statusQuery);
      assert.equal(s.waitingFor?.kind, 'budget');
      assert.equal(s.creditsCharged, 2);
      await h.signal(approveSignal, { approved: true, extraCredits: 5 });
    }, 'budget-extended');
    assert.ok(outcome.ok);
    assert.equal(outcome.r.status, 'completed');
    assert.deepEqual(rec.calls.filter((c) => c.name === 'extendReservation').map((c) => (c.input as { amount: number }).amount), [5]);
    assert.equal(rec.charged, 3);
  });

  it('follows the supervisor: retry with a changed step, ask a human, replan, finish', async () => {
    const { outcome, rec } = await run({
      plans: [plan('shell', 'write_file', 'write_file'), plan('read_file')],
      step: (s) => (s.tool === 'shell' && s.argv[0] === 'echo' ? { ok: false, summary: 'exit code 1' } : {}),
      decisions: [
        { action: 'retry', reason: 'try true', step: { tool: 'shell', argv: ['true'] } },
        { action: 'continue', reason: 'ok now' },
        { action: 'ask_human', reason: 'unsure', question: 'keep the second file?' },
        { action: 'replan', reason: 'operator said no' },
        { action: 'finish', reason: 'done', outcome: 'completed' },
      ],
    }, runInput({ provider: 'anthropic' }), async (h) => {
      await waitStatus(h, 'awaiting_approval');
      assert.equal((await h.query(statusQuery)).waitingFor?.detail, 'keep the second file?');
      await h.signal(messageSignal, { text: 'no, read f0 instead' });
    }, 'supervisor-decisions');
    assert.ok(outcome.ok, String(!outcome.ok && outcome.e));
    const steps = rec.calls.filter((c) => c.name === 'runStep').map((c) => (c.input as { index: number; step: { tool: string; argv?: string[] } }));
    assert.deepEqual(steps.map((s) => [s.index, s.step.tool, s.step.argv?.[0]]), [[0, 'shell', 'echo'], [1, 'shell', 'true'], [2, 'write_file', undefined], [3, 'read_file', undefined]]);
    const replan = rec.calls.filter((c) => c.name === 'plan')[1]!.input as { previous: { reason: string }; messages: string[] };
    assert.equal(replan.previous.reason, 'operator said no');
    assert.deepEqual(replan.messages, ['no, read f0 instead']);
  });

  it('stops at MAX_ITERATIONS with a reason', async () => {
    const input = runInput();
    input.limits.maxIterations = 2;
    const { outcome, rec } = await run({ plans: [plan('write_file', 'write_file', 'write_file')] }, input);
    assert.ok(!outcome.ok);
    assert.match(String((outcome.e as { cause?: Error }).cause?.message), /MAX_ITERATIONS \(2\)/);
    assert.equal((rec.events.at(-1)!.data.error as { code: string }).code, 'max_iterations');
    assert.ok(names(rec).includes('releaseCredits'));
  });

  it('ends as failed with insufficient_credits when the reservation is refused, charging nothing', async () => {
    const { outcome, rec } = await run({
      plans: [plan('write_file')],
      reserveRefusal: { ok: false, reason: 'insufficient_credits', message: '100 credits needed, 5 available', available: 5, reserved: 0 },
    }, runInput(), undefined, 'insufficient-credits');
    assert.ok(!outcome.ok);
    assert.equal((outcome.e as { cause?: { type?: string } }).cause?.type, 'insufficient_credits');
    assert.deepEqual(names(rec), ['openRun', 'reserveCredits', 'closeRun']);
    assert.deepEqual(rec.statuses, ['failed'], 'no planning status: the reservation came first');
  });

  it('runs file steps as local activities: an offline run of them schedules no activity and shares its workflow tasks', async () => {
    const { outcome, rec } = await run({ plans: [plan('write_file', 'read_file', 'write_file')] }, runInput(), async (h) => {
      await h.result();
      const history = await h.fetchHistory();
      const events = history.events ?? [];
      assert.equal(events.filter((e) => e.activityTaskScheduledEventAttributes).length, 0, 'no task-queue activity');
      const calls = historyCalls(history);
      assert.ok(calls.every((c) => c.local));
      assert.deepEqual(calls.map((c) => c.name), ['openRun', 'runPaidStep', 'runPaidStep', 'runPaidStep', 'closeRun']);
      assert.ok(events.filter((e) => e.workflowTaskCompletedEventAttributes).length <= 2, 'the steps ran inside the run\'s workflow tasks');
    });
    assert.ok(outcome.ok);
    assert.equal(outcome.r.status, 'completed');
    assert.equal(rec.calls.filter((c) => c.name === 'runPaidStep').length, 3);
  });

  it('opens an offline run with its plan in one call: reservation, planning, plan and running, then the step', async () => {
    const input = runInput({ limits: { ...runInput().limits, shellTimeoutMs: 60_000, shellTimeoutMaxMs: 120_000 } });
    const p: Plan = { summary: 'cut', steps: [{ tool: 'shell', argv: ['true'], timeoutMs: 999_000 }] };
    const { outcome, rec } = await run({ plans: [p] }, input, async (h) => {
      await h.result();
      const events = (await h.fetchHistory()).events ?? [];
      const firstStep = events.findIndex((e) => e.activityTaskScheduledEventAttributes);
      const markers = events.slice(0, firstStep).filter((e) => e.markerRecordedEventAttributes).map((e) => e.markerRecordedEventAttributes!.markerName);
      // One patch marker (the baseline) and one local activity (openRun) before the step: not three local activities.
      assert.deepEqual(markers, ['core_patch', 'core_local_activity']);
    });
    assert.ok(outcome.ok);
    assert.equal(outcome.r.status, 'completed');
    assert.deepEqual(names(rec).slice(0, 4), ['openRun', 'reserveCredits', 'plan', 'runPaidStep']);
    assert.deepEqual(rec.statuses, ['planning', 'running', 'completed']);
    const opening = rec.events.slice(0, 3);
    assert.deepEqual(opening.map((e) => e.type), ['status', 'log', 'status']);
    assert.match(String(opening[1]!.data.text), /^plan step 0: timeoutMs 999000 is above the maximum of 120000; cut to 120000$/);
    assert.deepEqual(opening[2]!.data, { status: 'running', plan: { summary: 'cut', steps: ['shell'] } });
    const ran = rec.calls.find((c) => c.name === 'runPaidStep')!.input as RunPaidStepInput;
    assert.equal((ran.step as { timeoutMs?: number }).timeoutMs, 120_000, 'the step runs with its cut time limit');
  });

  it('fails an offline run whose plan is refused as it opens, with the reason, and releases its reservation', async () => {
    const { outcome, rec } = await run({ plans: [], planRefusal: 'line 1: not a step' }, runInput());
    assert.ok(outcome.ok === false);
    assert.equal((outcome.e as { cause?: { type?: string; message?: string } }).cause?.type, 'LlmRequestRejected');
    assert.equal((outcome.e as { cause?: { message?: string } }).cause?.message, 'line 1: not a step');
    assert.deepEqual(names(rec), ['openRun', 'reserveCredits', 'plan', 'closeRun', 'releaseCredits']);
    assert.deepEqual(rec.statuses, ['planning', 'failed']);
    assert.deepEqual(rec.events.at(-1)!.data, { status: 'failed', steps: 0, credits: 0, error: { code: 'LlmRequestRejected', message: 'line 1: not a step' } });
  });

  it('shows an ending only once it is recorded: while closeRun settles, queries still say running', async () => {
    const hangs = () => new Promise<never>(() => undefined);
    for (const ending of ['completed', 'cancelled'] as const) {
      let release!: () => void;
      const closeRunWaits = new Promise<void>((r) => { release = r; });
      await run({ plans: [plan('write_file')], closeRunWaits, ...(ending === 'cancelled' ? { step: hangs } : {}) }, runInput(), async (h, r) => {
        if (ending === 'cancelled') {
          await waitUntil('step running', () => r.calls.some((c) => c.name === 'runStep'));
          await h.cancel();
        }
        try {
          await waitUntil('closeRun called', () => r.calls.some((c) => c.name === 'closeRun'));
          const shown = await h.query(statusQuery);
          assert.equal(shown.status, 'running', `${ending}: decided, not yet recorded`);
          assert.equal(shown.error, undefined);
          assert.equal((await h.query(progressQuery)).status, 'running');
        } finally {
          release(); // a failed check must not leave the run waiting for ever
        }
        await h.result().catch(() => undefined);
        assert.equal((await h.query(statusQuery)).status, ending, 'recorded: the ending shows');
      }, undefined, '2 seconds'); // a query waits for the workflow task closeRun (a local activity) holds open: 80% of this
    }
  });

  it('on cancel: stops the in-flight step, releases the reservation, publishes the end event', async () => {
    const { outcome, rec } = await run({ plans: [plan('shell', 'write_file')], step: () => new Promise(() => undefined) }, runInput(), async (h, r) => {
      await waitUntil('step running', () => r.calls.some((c) => c.name === 'runStep'));
      await h.cancel();
    }, 'cancelled-mid-step');
    assert.ok(!outcome.ok);
    assert.equal((outcome.e as { cause?: { name?: string } }).cause?.name, 'CancelledFailure', String((outcome.e as Error).stack));
    assert.ok(names(rec).includes('releaseCredits'));
    assert.deepEqual(rec.events.at(-1)!.data.status, 'cancelled');
    assert.equal(rec.events.at(-1)!.type, 'end');
  });

  it('on cancel: a step that fails instead of reporting the cancellation (its Job could not be deleted) still ends the run cancelled and closed', async () => {
    // Rejected in the abort listener: before the activity's own cancellation, as a step whose cleanup threw does.
    const failsOnCancel = () => new Promise<never>((_, reject) => {
      Context.current().cancellationSignal.addEventListener('abort', () => reject(new Error('fetch failed')));
    });
    const { outcome, rec } = await run({ plans: [plan('shell', 'write_file')], step: failsOnCancel }, runInput(), async (h, r) => {
      await waitUntil('step running', () => r.calls.some((c) => c.name === 'runStep'));
      await h.cancel();
    });
    assert.ok(!outcome.ok);
    assert.equal((outcome.e as { cause?: { name?: string } }).cause?.name, 'CancelledFailure', String((outcome.e as Error).stack));
    assert.ok(names(rec).includes('releaseCredits'), 'the reservation is released');
    assert.equal(rec.events.at(-1)!.type, 'end');
    assert.deepEqual(rec.events.at(-1)!.data.status, 'cancelled');
  });

  it('continues as new every 100 steps, carrying its state: a 250-step run completes', async () => {
    const steps = Array.from({ length: 250 }, () => 'write_file' as const);
    const input = runInput();
    input.limits.maxIterations = 1000;
    const { outcome, rec } = await run({ plans: [plan(...steps)] }, input);
    assert.ok(outcome.ok);
    assert.deepEqual(outcome.r, { status: 'completed', steps: 250, creditsCharged: 250 });
    assert.equal(names(rec).filter((x) => x === 'reserveCredits').length, 1, 'reserved once across executions');
    assert.equal(names(rec).filter((x) => x === 'settleCredits').length, 1);
    const indexes = rec.calls.filter((c) => c.name === 'runStep').map((c) => (c.input as { index: number }).index);
    assert.deepEqual(indexes, Array.from({ length: 250 }, (_, i) => i));
    const keys = rec.events.map((e) => e.key);
    assert.equal(new Set(keys).size, keys.length, 'event keys stay unique across continue-as-new');
  });
});
