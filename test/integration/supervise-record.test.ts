/**
 * The supervisor reads a step's output tail from the record of the execution that ran the
 * step: a reset execution keys its records with its epoch, and its supervisor must see what
 * its own step printed, not what the first execution's step of the same index printed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { llmActivities } from '../../src/activities/llm.ts';
import type { SuperviseInput } from '../../src/activities/llm.ts';
import { EventLog } from '../../src/infra/event-log.ts';
import { createLogger } from '../../src/infra/logger.ts';
import type { LlmProvider, SuperviseRequest } from '../../src/llm/types.ts';
import { newRunId } from '../../src/runs/ids.ts';
import { createExecutor } from '../../src/sandbox/index.ts';
import { s3Keys } from '../../src/shared/names.ts';
import { WorkspaceStore } from '../../src/workspace/store.ts';
import { connectClients } from '../helpers/stack.ts';
import type { Clients } from '../helpers/stack.ts';

describe('the supervisor reads the output tail of the execution that ran the step', () => {
  let c: Clients;
  let workspace: WorkspaceStore;
  let acts: ReturnType<typeof llmActivities>;
  const seen: SuperviseRequest[] = [];
  // Records what the activity hands the provider (the provider's own HTTP is tested elsewhere).
  const recording: LlmProvider = {
    name: 'anthropic',
    plan: () => Promise.reject(new Error('not asked to plan')),
    supervise: (req) => {
      seen.push(req);
      return Promise.resolve({ value: { action: 'continue', reason: 'ok' }, usage: { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0 }, transcript: {} });
    },
  };
  before(async () => {
    c = await connectClients();
    const log = createLogger('silent', 'test');
    workspace = new WorkspaceStore({ s3: c.s3, bucket: c.config.s3.bucket, fileMaxBytes: c.config.workspace.fileMaxBytes });
    acts = llmActivities({
      workspace, store: c.store, tools: c.config.tools, log, sandbox: await createExecutor(c.config, workspace, log),
      events: new EventLog(c.redis, { maxLen: 1000, ttlS: 600 }),
    }, { offline: undefined, anthropic: recording });
  });
  after(async () => c?.close());

  it('a reset execution\'s step (its epoch on the result) is read from its own record; a first execution\'s from the plain one (records in S3, as steps kept them before the database did)', async () => {
    const userId = 'supervise-user';
    const runId = newRunId();
    const step = { tool: 'shell' as const, argv: ['echo', 'hi'] };
    await workspace.putJson(s3Keys.stepRecord(userId, runId, 2), { index: 2, tool: 'shell', ok: true, summary: 'first', durationMs: 1, outputTail: 'printed by the first execution' });
    await workspace.putJson(s3Keys.stepRecord(userId, runId, 2, 'e7'), { index: 2, tool: 'shell', ok: true, summary: 'reset', durationMs: 1, outputTail: 'printed by the reset execution' });
    const input = (epoch?: string): SuperviseInput => ({
      runId, userId, prompt: 'shell echo hi', callId: 3, provider: 'anthropic', messages: [],
      plan: { summary: '1 step', steps: [step] }, index: 2, step, attempt: 1, isLast: true,
      result: { index: 2, tool: 'shell', ok: true, summary: 'done', durationMs: 1, ...(epoch ? { epoch } : {}) },
    });
    const env = new MockActivityEnvironment();
    await env.run((i: SuperviseInput) => acts.supervise(i), input('e7'));
    await env.run((i: SuperviseInput) => acts.supervise(i), input());
    assert.deepEqual(seen.map((r) => r.result.outputTail), ['printed by the reset execution', 'printed by the first execution']);
  });

  it('the same with the records the database keeps with each step\'s end; the database\'s record wins over an object of the same key', async () => {
    const userId = 'supervise-user';
    const runId = newRunId();
    const step = { tool: 'shell' as const, argv: ['echo', 'hi'] };
    await c.store.createRun({ id: runId, userId, prompt: 'shell echo hi' });
    const row = { runId, index: 2, userId, tool: 'shell', input: {}, status: 'completed', attempt: 1 } as const;
    await c.store.recordStep({ ...row, result: { json: JSON.stringify({ index: 2, tool: 'shell', ok: true, summary: 'first', durationMs: 1, outputTail: 'kept for the first execution' }) } });
    await c.store.recordStep({ ...row, result: { epoch: 'e7', json: JSON.stringify({ index: 2, tool: 'shell', ok: true, summary: 'reset', durationMs: 1, outputTail: 'kept for the reset execution' }) } });
    await workspace.putJson(s3Keys.stepRecord(userId, runId, 2), { index: 2, tool: 'shell', ok: true, summary: 'stale', durationMs: 1, outputTail: 'an object of the same key' });
    const input = (epoch?: string): SuperviseInput => ({
      runId, userId, prompt: 'shell echo hi', callId: 3, provider: 'anthropic', messages: [],
      plan: { summary: '1 step', steps: [step] }, index: 2, step, attempt: 1, isLast: true,
      result: { index: 2, tool: 'shell', ok: true, summary: 'done', durationMs: 1, ...(epoch ? { epoch } : {}) },
    });
    seen.length = 0;
    const env = new MockActivityEnvironment();
    await env.run((i: SuperviseInput) => acts.supervise(i), input('e7'));
    await env.run((i: SuperviseInput) => acts.supervise(i), input());
    assert.deepEqual(seen.map((r) => r.result.outputTail), ['kept for the reset execution', 'kept for the first execution']);
  });
});
