/**
 * The Anthropic provider with the real SDK against a local server speaking the
 * Messages API: request shape, structured output, usage, and error classes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAnthropicProvider } from '../../src/llm/anthropic.ts';
import { LlmRejectedError, LlmTransientError } from '../../src/llm/types.ts';
import type { LlmProvider, PlanRequest } from '../../src/llm/types.ts';
import { apiError, FakeAnthropic, textOnly, toolUse } from '../helpers/fake-anthropic.ts';

const planReq: PlanRequest = { runId: 'run_x', prompt: 'make a greeting file', tools: ['write_file', 'read_file', 'shell'], messages: [] };
const aPlan = { summary: 'greet', steps: [{ tool: 'write_file', path: 'hi.txt', content: 'hi' }, { tool: 'shell', argv: ['cat', 'hi.txt'] }] };

describe('Anthropic provider (real SDK, local Messages API server)', () => {
  const fake = new FakeAnthropic();
  let p: LlmProvider;
  const signal = new AbortController().signal;

  before(async () => {
    await fake.start();
    p = createAnthropicProvider({ apiKey: fake.apiKey, baseURL: fake.url, model: 'claude-sonnet-4-5', maxTokens: 2048, timeoutMs: 5000 });
  });
  after(() => fake.stop());

  it('plans through a forced tool call, with cached system prompt and tools, and reports usage', async () => {
    fake.push(toolUse('submit_plan', aPlan, { input_tokens: 1200, output_tokens: 300, cache_read_input_tokens: 1000, cache_creation_input_tokens: 0 }));
    const r = await p.plan(planReq, signal);
    assert.deepEqual(r.value, aPlan);
    assert.deepEqual(r.usage, { inputTokens: 1200, outputTokens: 300, cacheReadTokens: 1000, cacheWriteTokens: 0 });
    const req = fake.requests.at(-1)!;
    assert.match(String(req.headers['anthropic-version']), /^\d{4}-\d{2}-\d{2}$/);
    assert.equal(req.body.model, 'claude-sonnet-4-5');
    assert.equal(req.body.max_tokens, 2048);
    assert.deepEqual(req.body.tool_choice, { type: 'tool', name: 'submit_plan' });
    assert.deepEqual(req.body.tools![0]!.cache_control, { type: 'ephemeral' });
    assert.deepEqual((req.body.system as { cache_control: unknown }[])[0]!.cache_control, { type: 'ephemeral' });
    assert.equal((req.body.tools![0]!.input_schema as { type: string }).type, 'object');
  });

  it('offers in submit_plan\'s schema only the tools switched on here: no web_search without a key, no browser without Chromium, no mcp without connectors', async () => {
    const stepKinds = (body: (typeof fake.requests)[number]['body']) =>
      ((body.tools![0]!.input_schema as { properties: { steps: { items: { oneOf: { properties: { tool: { const: string } } }[] } } } })
        .properties.steps.items.oneOf.map((v) => v.properties.tool.const));
    const base = ['write_file', 'read_file', 'list_files', 'stat_file', 'delete_file', 'shell', 'code', 'fetch_url'];
    fake.push(toolUse('submit_plan', aPlan));
    await p.plan(planReq, signal);
    const bare = fake.requests.at(-1)!.body;
    assert.deepEqual(stepKinds(bare), base);
    assert.match(JSON.stringify(bare.system), /There is no web_search here.*There is no browser here.*There are no MCP connectors here/);

    const full = createAnthropicProvider({ apiKey: fake.apiKey, baseURL: fake.url, model: 'claude-sonnet-4-5', maxTokens: 2048, timeoutMs: 5000,
      search: true, browser: true, mcpTools: [{ qualified: 'mcp:everything.echo', description: 'Echoes', inputSchema: { type: 'object' } }] });
    fake.push(toolUse('submit_plan', aPlan));
    await full.plan(planReq, signal);
    const all = fake.requests.at(-1)!.body;
    assert.deepEqual(stepKinds(all), [...base, 'web_search', 'browser', 'mcp']);
    assert.doesNotMatch(JSON.stringify(all.system), /There is no web_search|There is no browser|no MCP connectors/);

    const searchOnly = createAnthropicProvider({ apiKey: fake.apiKey, baseURL: fake.url, model: 'claude-sonnet-4-5', maxTokens: 2048, timeoutMs: 5000, search: true, mcpTools: [] });
    fake.push(toolUse('submit_plan', aPlan));
    await searchOnly.plan(planReq, signal);
    assert.deepEqual(stepKinds(fake.requests.at(-1)!.body), [...base, 'web_search']);
  });

  it('supervises through the decide tool', async () => {
    fake.push(toolUse('decide', { decision: { action: 'retry', reason: 'typo', step: { tool: 'shell', argv: ['true'] } } }));
    const r = await p.supervise({
      runId: 'run_x', prompt: 'x', plan: aPlan as never, index: 1, step: { tool: 'shell', argv: ['ture'] },
      result: { index: 1, tool: 'shell', ok: false, summary: 'exit 127', durationMs: 3 }, attempt: 1, isLast: true, messages: [],
    }, signal);
    assert.deepEqual(r.value, { action: 'retry', reason: 'typo', step: { tool: 'shell', argv: ['true'] } });
  });

  it('rejects invalid output without retry: no tool call, or a plan that fails the schema', async () => {
    fake.push(textOnly('I would rather chat.'));
    await assert.rejects(p.plan(planReq, signal), (e: unknown) => e instanceof LlmRejectedError && e.kind === 'invalid_output' && /without calling submit_plan/.test(e.message));
    fake.push(toolUse('submit_plan', { summary: 'x', steps: [{ tool: 'rm_rf', path: '/' }] }));
    await assert.rejects(p.plan(planReq, signal), (e: unknown) => e instanceof LlmRejectedError && e.kind === 'invalid_output' && /invalid plan: steps\.0/.test(e.message));
  });

  it('classifies 429, 529 and 5xx as transient, honouring retry-after; 400 and 401 as rejected', async () => {
    fake.push(apiError(429, 'rate_limit_error', 'slow down', { 'retry-after': '7' }));
    await assert.rejects(p.plan(planReq, signal), (e: unknown) => e instanceof LlmTransientError && e.status === 429 && e.retryAfterMs === 7000);
    fake.push(apiError(529, 'overloaded_error', 'Overloaded'));
    await assert.rejects(p.plan(planReq, signal), (e: unknown) => e instanceof LlmTransientError && e.status === 529 && /overloaded_error: Overloaded/.test(e.message));
    fake.push(apiError(500, 'api_error', 'boom'));
    await assert.rejects(p.plan(planReq, signal), (e: unknown) => e instanceof LlmTransientError && e.status === 500);
    fake.push(apiError(400, 'invalid_request_error', 'messages: too long'));
    await assert.rejects(p.plan(planReq, signal), (e: unknown) => e instanceof LlmRejectedError && e.kind === 'request_rejected' && e.status === 400 && /too long/.test(e.message));
    const wrongKey = createAnthropicProvider({ apiKey: 'sk-ant-wrong-key', baseURL: fake.url, model: 'm', maxTokens: 100, timeoutMs: 5000 });
    await assert.rejects(wrongKey.plan(planReq, signal), (e: unknown) => e instanceof LlmRejectedError && e.status === 401 && /authentication_error/.test(e.message));
    const unreachable = createAnthropicProvider({ apiKey: 'k'.repeat(20), baseURL: 'http://127.0.0.1:1', model: 'm', maxTokens: 100, timeoutMs: 5000 });
    await assert.rejects(unreachable.plan(planReq, signal), (e: unknown) => e instanceof LlmTransientError && /unreachable/.test(e.message));
  });

  it('honours cancellation: an aborted call ends at once', async () => {
    fake.push({ ...toolUse('submit_plan', aPlan), delayMs: 10_000 });
    const ac = new AbortController();
    const pending = p.plan(planReq, ac.signal);
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(pending, (e: unknown) => (e as Error).name === 'APIUserAbortError' || /abort/i.test((e as Error).message));
  });
});
