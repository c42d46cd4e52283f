/**
 * MCP connectors through the API and the worker, against real MCP servers from npm:
 * @modelcontextprotocol/server-everything over stdio (jailed by SANDBOX=local) and over
 * Streamable HTTP, and @modelcontextprotocol/server-filesystem rooted in the step's
 * workspace copy. A run planned by the Anthropic provider (the local fake) picks an MCP
 * tool from the planner's list; offline runs read and write workspace files through the
 * filesystem server; the jailed server sees none of the worker's secrets; a tool's own
 * error, an unknown tool, arguments its schema refuses and an unconfigured server each
 * fail with the reason;
 * APPROVAL_TOOLS=mcp:<server> holds a plan using that server for approval.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPort } from '../../src/infra/free-port.ts';
import { apiFetch } from '../helpers/auth.ts';
import { FakeAnthropic, toolUse } from '../helpers/fake-anthropic.ts';
import * as runs from '../helpers/runs.ts';
import type { RunViewBody } from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

const modules = fileURLToPath(new URL('../../node_modules', import.meta.url));
const everythingEntry = '@modelcontextprotocol/server-everything/dist/index.js';

/** Starts server-everything's Streamable HTTP mode on a free port; resolves once it listens. */
async function startHttpServer(): Promise<{ child: ChildProcess; url: string }> {
  const port = await freeLoopbackPort();
  const child = spawn(process.execPath, [join(modules, everythingEntry), 'streamableHttp'], { env: { PATH: process.env.PATH, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`server-everything did not listen: ${stderr}`)), 20_000);
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (stderr.includes(`listening on port ${port}`)) { clearTimeout(deadline); resolve(); }
    });
  });
  return { child, url: `http://127.0.0.1:${port}/mcp` };
}

describe('MCP connectors through the API and the worker', () => {
  const fake = new FakeAnthropic();
  let c: Clients;
  let http: { child: ChildProcess; url: string };
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let offlineWorker: Proc | undefined;
  let offlineApi: (Proc & { url: string }) | undefined;
  let gatedApi: (Proc & { url: string }) | undefined;

  before(async () => {
    c = await connectClients();
    await fake.start();
    http = await startHttpServer();
    const servers = {
      everything: { command: ['node', `/opt/mcp/node_modules/${everythingEntry}`, 'stdio'], mount: modules, env: { GREETING: 'hello from the config' } },
      fs: { command: ['node', '/opt/mcp/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js', '/workspace'], mount: modules, workspace: true },
      web: { url: http.url, headers: { 'x-team': 'agentrun-tests' } },
    };
    const base = { ...stackEnv(), SANDBOX: 'local', MCP_SERVERS: JSON.stringify(servers), MCP_TIMEOUT: '20' };
    const planned = { ...base, TEMPORAL_TASK_QUEUE: uniqueQueue('mcp-llm'), DEFAULT_USER_ID: await newUser(c, 100_000, 'mcp-llm'),
      LLM_PROVIDER: 'anthropic', ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_MODEL: 'claude-sonnet-4-5' };
    const offline = { ...base, TEMPORAL_TASK_QUEUE: uniqueQueue('mcp'), DEFAULT_USER_ID: await newUser(c, 100_000, 'mcp') };
    // APPROVAL_TOOLS is a run limit the API copies into each run: this API's runs use the offline worker.
    const gated = { ...offline, APPROVAL_TOOLS: 'mcp:everything' };
    [worker, api, offlineWorker, offlineApi, gatedApi] = await Promise.all([startWorker(planned), startApi(planned), startWorker(offline), startApi(offline), startApi(gated)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker), stop(offlineApi), stop(gatedApi), stop(offlineWorker)]);
    http?.child.kill();
    await fake.stop();
    await c?.close();
  });

  const runToEnd = (apiUrl: string, prompt: string) => runs.runToEnd(apiUrl, prompt, 90_000);
  const mcpLogs = (events: { event: string; data: Record<string, unknown> }[]) => events.filter((e) => e.event === 'log' && e.data.stream === 'mcp').map((e) => e.data);

  it('the planner is offered each connector tool with its schema, and the run calls the one it picked', async () => {
    fake.push(
      toolUse('submit_plan', { summary: 'echo through a connector', steps: [{ tool: 'mcp', server: 'everything', name: 'echo', arguments: { message: 'planned by the model' } }] }),
      toolUse('decide', { decision: { action: 'finish', reason: 'echoed', outcome: 'completed' } }),
    );
    const { id, events, view } = await runToEnd(api!.url, 'Echo something through the everything connector.');
    assert.equal(view.status, 'completed', JSON.stringify(view.error));
    const system = JSON.stringify(fake.requests[0]!.body.system);
    assert.match(system, /mcp:everything\.echo: .*arguments schema: .*message/);
    assert.match(system, /mcp:fs\.read_text_file/);
    assert.match(system, /mcp:web\.echo/, 'the HTTP server\'s tools too');
    const [log] = mcpLogs(events);
    assert.equal(log!.connector, 'mcp:everything.echo');
    assert.equal(log!.text, 'Echo: planned by the model');
    const saved = JSON.parse(Buffer.from(await (await apiFetch(`${api!.url}/v1/runs/${id}/files/mcp/000.json`)).arrayBuffer()).toString()) as { text: string; isError: boolean };
    assert.deepEqual([saved.text, saved.isError], ['Echo: planned by the model', false]);
  });

  it('the filesystem server works in the step\'s workspace copy: it reads a file and writes one that later steps see', async () => {
    const { events, view } = await runToEnd(offlineApi!.url, [
      'write_file notes.txt hello from the workspace',
      'mcp fs.read_text_file {"path": "/workspace/notes.txt"}',
      'mcp fs.write_file {"path": "/workspace/made-by-mcp.txt", "content": "written through MCP"}',
      'read_file made-by-mcp.txt',
      'mcp web.echo {"message": "over Streamable HTTP"}',
    ].join('\n'));
    assert.equal(view.status, 'completed', JSON.stringify(view.error));
    const logs = mcpLogs(events);
    assert.equal(logs[0]!.text, 'hello from the workspace');
    assert.equal(logs[1]!.changedFiles, 1);
    assert.ok(events.some((e) => e.event === 'log' && e.data.stream === 'file' && e.data.text === 'written through MCP'), 'read back by a later step');
    assert.equal(logs[2]!.text, 'Echo: over Streamable HTTP');
  });

  it('a jailed stdio server sees only its configured environment, none of the worker\'s secrets', async () => {
    const { events, view } = await runToEnd(offlineApi!.url, 'mcp everything.get-env');
    assert.equal(view.status, 'completed', JSON.stringify(view.error));
    const text = String(mcpLogs(events)[0]!.text);
    assert.match(text, /hello from the config/);
    for (const secret of [process.env.S3_SECRET_ACCESS_KEY, process.env.SUPABASE_SERVICE_ROLE_KEY, process.env.REDIS_URL, process.env.DATABASE_URL]) {
      if (secret) assert.ok(!text.includes(secret), 'a worker secret reached the MCP server');
    }
    assert.doesNotMatch(text, /S3_SECRET_ACCESS_KEY|SUPABASE|REDIS_URL|TEMPORAL_ADDRESS/);
  });

  it('APPROVAL_TOOLS=mcp:everything holds a plan using that server for approval before any step; other connectors and tools run at once', async () => {
    const id = await runs.createRun(gatedApi!.url, 'write_file before.txt first\nmcp everything.echo {"message": "after approval"}');
    const view = async () => (await (await apiFetch(`${gatedApi!.url}/v1/runs/${id}`)).json()) as RunViewBody & { steps: unknown[] };
    const held = await waitUntil('the run awaiting approval', async () => { const v = await view(); return v.status === 'awaiting_approval' && v; }, 60_000);
    assert.equal(held.steps.length, 0, 'no step ran before the approval, not even the write_file');
    const approved = await apiFetch(`${gatedApi!.url}/v1/runs/${id}/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(approved.status, 202);
    const events = (await runs.collect(gatedApi!.url, id, { timeoutMs: 90_000 })).map((m) => ({ event: m.event, data: runs.parse(m) }));
    assert.equal((await view()).status, 'completed');
    const wait = events.findIndex((e) => e.event === 'status' && e.data.status === 'awaiting_approval');
    assert.match(JSON.stringify(events[wait]?.data), /mcp:everything\.echo/, 'the wait names the gated connector tool');
    assert.ok(wait < events.findIndex((e) => e.event === 'log' && (e.data.stream === 'mcp' || e.data.stream === 'file')), 'the wait came before any step');
    assert.equal(mcpLogs(events)[0]!.text, 'Echo: after approval');

    const other = await runs.runToEnd(gatedApi!.url, 'write_file x.txt y\nmcp web.echo {"message": "not gated"}', 90_000);
    assert.equal(other.view.status, 'completed', JSON.stringify(other.view.error));
    assert.ok(!other.events.some((e) => e.event === 'status' && e.data.status === 'awaiting_approval'), 'never waited for approval');
    assert.equal(mcpLogs(other.events)[0]!.text, 'Echo: not gated');
  });

  for (const [what, prompt, reason] of [
    ['a path outside the workspace (the tool\'s own error)', 'mcp fs.read_text_file {"path": "/etc/passwd"}', /mcp:fs\.read_text_file failed: .*Access denied - path outside allowed directories/],
    ['a tool the server does not offer', 'mcp everything.no-such-tool {}', /mcp:everything\.no-such-tool: .*no such tool/],
    ['arguments that do not fit the tool\'s input schema (checked before the call)', 'mcp everything.echo {"message": 3}', /mcp:everything\.echo: MCP server everything: tools\/call echo refused: the arguments do not fit the tool's input schema: arguments\/message must be string/],
    ['a server that is not configured', 'mcp github.search {"q": "x"}', /mcp:github\.search is not available: no MCP server "github" is configured/],
  ] as const) {
    it(`fails the run with the reason on ${what}`, async () => {
      const { view } = await runToEnd(offlineApi!.url, prompt);
      assert.equal(view.status, 'failed');
      assert.match(view.error?.message ?? '', reason);
    });
  }
});
