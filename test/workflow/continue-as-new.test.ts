/**
 * A run that continues as new mid-way, on a dev server that suggests it early
 * (limit.historyCount.suggestContinueAsNew): what the first execution learned —
 * the plan, its approval, a human's message, LLM call ids, event keys, credits —
 * carries into the next, which waits at the budget gate and finishes. With
 * RECORD_FIXTURES=1 both executions' histories become replay fixtures
 * (continue-as-new-1.json ends in ContinuedAsNew; continue-as-new-2.json starts from its carry).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { temporal } from '@temporalio/proto';
import { WORKFLOW_TYPE } from '../../src/shared/names.ts';
import type { Plan } from '../../src/shared/run.ts';
import { approveSignal, messageSignal, statusQuery } from '../../src/workflows/definitions.ts';
import type { AgentRun } from '../../src/workflows/agent-run.ts';
import { fakeActivities, localEnv, names, runInput, workflowBundle } from '../helpers/workflow-env.ts';
import { workerTracingOptions } from '../../src/worker/tracing.ts';
import { waitUntil } from '../helpers/stack.ts';

const FIXTURES = new URL('../fixtures/', import.meta.url);
/** Events after which the server suggests continuing as new (the first execution crosses it after its first step). */
const SUGGEST_AT_EVENTS = 60;

describe('AgentRun across continue-as-new', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await localEnv({ 'limit.historyCount.suggestContinueAsNew': SUGGEST_AT_EVENTS });
    await workflowBundle();
  });
  after(async () => env?.teardown());

  it('carries plan, approvals, messages, call ids and event keys into the next execution, which finishes the run', async () => {
    // Three file steps, then a shell step whose hold (its price at a one-hour limit) does not fit the budget.
    const plan: Plan = {
      summary: 'crosses continue-as-new',
      steps: [
        { tool: 'write_file', path: 'a', content: 'x' }, { tool: 'write_file', path: 'b', content: 'x' },
        { tool: 'write_file', path: 'c', content: 'x' }, { tool: 'shell', argv: ['echo', 'd'], timeoutMs: 3_600_000 },
      ],
    };
    const { activities, rec } = fakeActivities({ plans: [plan], budget: 150 });
    const input = runInput({ provider: 'anthropic', requireApproval: true });
    const taskQueue = 'wf-continue-as-new';
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities, ...(await workerTracingOptions(undefined)) });
    const { result, runs } = await worker.runUntil(async () => {
      const h = await env.client.workflow.start<typeof AgentRun>(WORKFLOW_TYPE, { taskQueue, workflowId: input.runId, args: [input] });
      await waitUntil('plan approval', async () => (await h.query(statusQuery)).waitingFor?.kind === 'approval', 20_000);
      await h.signal(messageSignal, { text: 'keep it short' }); // direct: announced on the log
      await h.signal(approveSignal, { approved: true, actor: 'alice' });
      await waitUntil('budget approval', async () => (await h.query(statusQuery)).waitingFor?.kind === 'budget', 30_000);
      assert.notEqual((await h.describe()).runId, h.firstExecutionRunId, 'the budget gate is reached in a later execution');
      await h.signal(approveSignal, { approved: true, extraCredits: 500, actor: 'alice' });
      const result = await h.result();
      // Every execution's history, first to last, following ContinuedAsNew.
      const runs: temporal.api.history.v1.IHistory[] = [];
      for (let runId: string | null | undefined = h.firstExecutionRunId; runId;) {
        const history = await env.client.workflow.getHandle(input.runId, runId).fetchHistory();
        runs.push(history);
        runId = history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
      }
      return { result, runs };
    });
    if (process.env.RECORD_FIXTURES === '1') {
      runs.forEach((history, i) => writeFileSync(new URL(`continue-as-new-${i + 1}.json`, FIXTURES), historyToJSON(history)));
    }

    assert.deepEqual(result, { status: 'completed', steps: 4, creditsCharged: result.creditsCharged });
    assert.equal(runs.length, 2, 'one continue-as-new');
    assert.equal(names(rec).filter((x) => x === 'reserveCredits').length, 1, 'reserved once across executions');
    assert.equal(names(rec).filter((x) => x === 'settleCredits').length, 1);
    const steps = rec.calls.filter((c) => c.name === 'runStep').map((c) => (c.input as { index: number }).index);
    assert.deepEqual(steps, [0, 1, 2, 3]);
    // LLM call ids (plan, then one supervision per step) go on counting in the next execution.
    const llm = rec.calls.filter((c) => c.name === 'plan' || c.name === 'supervise').map((c) => c.input as { callId: number; messages: string[] });
    assert.deepEqual(llm.map((c) => c.callId), [0, 1, 2, 3, 4]);
    assert.deepEqual(llm.at(-1)!.messages, ['keep it short'], 'the message is carried');
    // The plan approval was the first; the budget approval in the next execution is the second.
    const ext = rec.calls.filter((c) => c.name === 'extendReservation').map((c) => (c.input as { key: string }).key);
    assert.deepEqual(ext, [`extend:${input.runId}:2`]);
    const keys = rec.events.map((e) => e.key);
    assert.equal(new Set(keys).size, keys.length, 'event keys stay unique across continue-as-new');
    assert.ok(rec.events.some((e) => e.type === 'log' && e.data.action === 'message' && e.data.text === 'keep it short'));
    assert.equal(rec.events.at(-1)!.type, 'end');
  });
});
