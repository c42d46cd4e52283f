/**
 * The gate's pure rules and the prices held before a step or an LLM call runs:
 * which plan changes need approval, the time-limit cap, the maximum costs, and
 * that an LLM call's hold really bounds what the request can bill (measured on
 * the requests the real provider sends to a local Messages API server).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAnthropicProvider } from '../../src/llm/anthropic.ts';
import { approvalReason, newSteps, withTimeLimits } from '../../src/shared/plan-gate.ts';
import { LLM_REQUEST_OVERHEAD_BYTES, llmMaxCost, partialLlmCredits, partialStepCredits, stepMaxCredits, utf8Bytes } from '../../src/shared/pricing.ts';
import type { Plan, PlanStep, StepResult } from '../../src/shared/run.ts';
import { FakeAnthropic, toolUse } from '../helpers/fake-anthropic.ts';

const sh = (...argv: string[]): PlanStep => ({ tool: 'shell', argv });
const wr = (path: string): PlanStep => ({ tool: 'write_file', path, content: 'x' });
const shellGate = { approvalTools: ['shell'], requireApproval: false };
const limits = { defaultMs: 60_000, maxMs: 600_000 };

describe('approval of plan changes', () => {
  it('the first plan: gated tools or requireApproval, with the same reasons as before', () => {
    assert.equal(approvalReason({ kind: 'plan', before: [], after: [wr('a'), sh('ls')] }, shellGate), 'the plan uses shell');
    assert.equal(approvalReason({ kind: 'plan', before: [], after: [wr('a')] }, shellGate), undefined);
    assert.equal(approvalReason({ kind: 'plan', before: [], after: [wr('a')] }, { approvalTools: [], requireApproval: true }), 'the run asks for approval of its plan');
  });

  it('a retry or replan that adds a gated step needs approval; one that only repeats approved steps does not', () => {
    assert.equal(approvalReason({ kind: 'retry', before: [wr('a')], after: [sh('rm', '-rf', '.')] }, shellGate), 'the supervisor\'s retry adds shell step(s)');
    assert.equal(approvalReason({ kind: 'retry', before: [sh('ls')], after: [sh('ls', '-la')] }, shellGate), 'the supervisor\'s retry adds shell step(s)', 'a changed argv is a new step');
    assert.equal(approvalReason({ kind: 'retry', before: [sh('ls')], after: [sh('ls')] }, shellGate), undefined);
    assert.equal(approvalReason({ kind: 'replan', before: [sh('ls'), wr('a')], after: [wr('b'), sh('ls')] }, shellGate), undefined);
    assert.equal(approvalReason({ kind: 'replan', before: [wr('a')], after: [wr('a'), { tool: 'code', language: 'bash', source: 'id' }] }, { approvalTools: ['code'], requireApproval: false }), 'the new plan adds code step(s)');
  });

  it('APPROVAL_TOOLS gates MCP connectors by `mcp` (all), `mcp:<server>` or `mcp:<server>.<tool>`', () => {
    const echo: PlanStep = { tool: 'mcp', server: 'everything', name: 'echo', arguments: { message: 'x' } };
    const issue: PlanStep = { tool: 'mcp', server: 'github', name: 'create_issue' };
    const first = (approvalTools: string[], steps: PlanStep[]) => approvalReason({ kind: 'plan', before: [], after: steps }, { approvalTools, requireApproval: false });
    assert.equal(first(['mcp'], [echo, issue]), 'the plan uses mcp:everything.echo, mcp:github.create_issue');
    assert.equal(first(['mcp:github'], [echo, issue]), 'the plan uses mcp:github.create_issue');
    assert.equal(first(['mcp:github.create_issue'], [echo]), undefined);
    assert.equal(first(['mcp:github.create_issue'], [issue]), 'the plan uses mcp:github.create_issue');
  });

  it('requireApproval: any change needs approval again, an identical plan does not', () => {
    const rules = { approvalTools: [], requireApproval: true };
    assert.match(approvalReason({ kind: 'replan', before: [wr('a')], after: [wr('b')] }, rules)!, /new plan changes the plan/);
    assert.match(approvalReason({ kind: 'replan', before: [wr('a'), wr('b')], after: [wr('a')] }, rules)!, /changes the plan/, 'a shorter plan is a change');
    assert.equal(approvalReason({ kind: 'replan', before: [wr('a')], after: [wr('a')] }, rules), undefined);
    assert.deepEqual(newSteps({ kind: 'retry', before: [wr('a')], after: [wr('a'), wr('c')] }), [wr('c')]);
  });
});

describe('step time limits and maximum costs', () => {
  it('a timeoutMs above the maximum is cut to it and reported; absent ones get the default; file steps are untouched', () => {
    const r = withTimeLimits([{ tool: 'shell', argv: ['x'], timeoutMs: 3_600_000 }, sh('y'), { tool: 'code', language: 'python', source: 'p', timeoutMs: 5000 }, wr('a')], limits);
    assert.deepEqual(r.steps.map((s) => ('timeoutMs' in s ? s.timeoutMs : null)), [600_000, 60_000, 5000, null]);
    assert.deepEqual(r.clamped, [{ index: 0, askedMs: 3_600_000, timeoutMs: 600_000 }]);
  });

  it('a step\'s hold is its price at its time limit; a file step its base price', () => {
    assert.equal(stepMaxCredits(sh('x'), limits), 1 + 6);
    assert.equal(stepMaxCredits({ tool: 'shell', argv: ['x'], timeoutMs: 3_600_000 }, limits), 1 + 60, 'priced at the cut limit');
    assert.equal(stepMaxCredits(wr('a'), limits), 1);
  });

  it('an unfinished step pays for the time it ran (at least its base), never more than its hold; an unfinished LLM call one credit', () => {
    assert.equal(partialStepCredits(sh('x'), 0, 7), 2);
    assert.equal(partialStepCredits(sh('x'), 25_000, 7), 4);
    assert.equal(partialStepCredits(sh('x'), 10 * 60_000, 7), 7);
    assert.equal(partialStepCredits(wr('a'), 5000, 1), 1);
    assert.equal(partialLlmCredits(30), 1);
    assert.equal(partialLlmCredits(0), 0);
  });

  it('utf8Bytes matches Buffer.byteLength', () => {
    for (const s of ['', 'abc', 'é', '€uro', '😀 ok', 'a\u{10ffff}b', '日本語']) assert.equal(utf8Bytes(s), Buffer.byteLength(s), s);
  });
});

describe('an LLM call\'s hold bounds what its request can bill', () => {
  const fake = new FakeAnthropic();
  before(() => fake.start());
  after(() => fake.stop());
  const signal = new AbortController().signal;

  /** Bytes of text the model reads: system prompt, tool definitions, the user turn. */
  const requestBytes = () => {
    const b = fake.requests.at(-1)!.body;
    return utf8Bytes(JSON.stringify(b.system)) + utf8Bytes(JSON.stringify(b.tools)) + utf8Bytes(JSON.stringify(b.messages));
  };

  it('supervise with the largest output tail (multi-byte) and plan with a previous plan both stay within max_tokens + input bytes + overhead', async () => {
    const p = createAnthropicProvider({ apiKey: fake.apiKey, baseURL: fake.url, model: 'claude-sonnet-4-5', maxTokens: 4096, timeoutMs: 5000 });
    const plan: Plan = { summary: 'résumé ✓', steps: [sh('sh', '-c', 'echo "quoted" ✓'), wr('naïve.txt')] };
    const result: StepResult = { index: 0, tool: 'shell', ok: false, summary: 'sh: exit code 1', exitCode: 1, durationMs: 12 };
    const prompt = 'Bitte prüfe die Datei ✓ '.repeat(200);
    const messages = ['no, use the other file — 日本語'];
    // What the workflow sees of the call (the activity input) vs what the provider sends.
    const superviseSeen = { runId: 'run_x', userId: 'u', prompt, callId: 1, provider: 'anthropic', plan, index: 0, step: plan.steps[0], result, attempt: 1, isLast: false, messages };
    const tail = `${'日'.repeat(4000)}\n[stderr]\n${'本'.repeat(4000)}`;
    fake.push(toolUse('decide', { decision: { action: 'continue', reason: 'ok' } }));
    await p.supervise({ runId: 'run_x', prompt, plan, index: 0, step: plan.steps[0]!, result: { ...result, outputTail: tail }, attempt: 1, isLast: false, messages }, signal);
    const bound = llmMaxCost({ maxTokens: 4096, inputBytes: utf8Bytes(JSON.stringify(superviseSeen)) });
    assert.ok(4096 + requestBytes() <= bound.tokens, `request ${requestBytes()} bytes + 4096 > held ${bound.tokens} tokens`);

    const planSeen = { runId: 'run_x', userId: 'u', prompt, callId: 2, provider: 'anthropic', messages, previous: { plan, results: [result], reason: 'it failed' } };
    fake.push(toolUse('submit_plan', plan));
    await p.plan({ runId: 'run_x', prompt, tools: ['shell', 'write_file'], messages, previous: { plan, results: [result], reason: 'it failed' } }, signal);
    const planBound = llmMaxCost({ maxTokens: 4096, inputBytes: utf8Bytes(JSON.stringify(planSeen)) });
    assert.ok(4096 + requestBytes() <= planBound.tokens);
    assert.ok(requestBytes() - utf8Bytes(JSON.stringify(superviseSeen)) < LLM_REQUEST_OVERHEAD_BYTES);
  });
});
