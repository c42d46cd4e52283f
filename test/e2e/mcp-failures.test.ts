/**
 * An MCP server that fails mid-call, through the API and a jailed worker: a stdio server
 * (a small one built on @modelcontextprotocol/sdk, run inside the step's jail like any
 * other) lists its tools, then on a call either exits or never answers. The crash is
 * transport trouble, retried, and when it lasts the step fails with the server's last
 * words; a call past MCP_TIMEOUT fails the step at once, naming the limit, and is not
 * made again (the tool may have run on the server).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as runs from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

const modules = fileURLToPath(new URL('../../node_modules', import.meta.url));

/** The server: `crash` exits mid-call after a word on stderr, `hang` never answers. */
const SERVER = `
const sdk = '/opt/mcp/node_modules/@modelcontextprotocol/sdk/dist/cjs';
const { Server } = require(sdk + '/server/index.js');
const { StdioServerTransport } = require(sdk + '/server/stdio.js');
const { ListToolsRequestSchema, CallToolRequestSchema } = require(sdk + '/types.js');
const server = new Server({ name: 'flaky', version: '1.0.0' }, { capabilities: { tools: {} } });
const schema = { type: 'object', properties: {} };
server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [
  { name: 'crash', description: 'exits mid-call', inputSchema: schema },
  { name: 'hang', description: 'never answers', inputSchema: schema },
] }));
server.setRequestHandler(CallToolRequestSchema, async (req) => {
  if (req.params.name === 'crash') { process.stderr.write('dying on purpose\\n'); process.exit(3); }
  return new Promise(() => {});
});
server.connect(new StdioServerTransport());
`;

describe('an MCP server that crashes or times out, through the API and the worker', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;

  before(async () => {
    c = await connectClients();
    const env = {
      ...stackEnv(), SANDBOX: 'local', TEMPORAL_TASK_QUEUE: uniqueQueue('mcp-fail'), DEFAULT_USER_ID: await newUser(c, 10_000, 'mcp-fail'),
      MCP_SERVERS: JSON.stringify({ flaky: { command: ['node', '-e', SERVER], mount: modules } }), MCP_TIMEOUT: '2', OUTSIDE_RETRY_MS: '100',
    };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c?.close();
  });

  /** The attempts Temporal made of the run's (one) tool step. */
  const stepAttempts = async (id: string) => {
    const events = (await c.temporal.workflow.getHandle(id).fetchHistory()).events ?? [];
    const scheduled = events.find((e) => /^runStep|^runPaidStep/.test(e.activityTaskScheduledEventAttributes?.activityType?.name ?? ''));
    assert.ok(scheduled, 'the step was scheduled');
    const started = events.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(scheduled.eventId));
    return started?.activityTaskStartedEventAttributes?.attempt ?? 0;
  };

  it('a server that exits mid-call is retried, then fails the step with its last words on stderr', async () => {
    const { id, view } = await runs.runToEnd(api!.url, 'mcp flaky.crash {}', 180_000);
    assert.equal(view.status, 'failed');
    assert.match(view.error?.message ?? '', /mcp:flaky\.crash: MCP server flaky: tools\/call crash failed: .*dying on purpose/);
    assert.ok(await stepAttempts(id) > 1, 'the crash was retried');
  });

  it('a call past MCP_TIMEOUT fails the step at once with the limit named, and is not made again', async () => {
    const { id, view } = await runs.runToEnd(api!.url, 'mcp flaky.hang {}', 120_000);
    assert.equal(view.status, 'failed');
    assert.match(view.error?.message ?? '', /mcp:flaky\.hang: MCP server flaky: tools\/call hang timed out after 2000 ms; the call may have run on the server, so it is not made again/);
    assert.equal(await stepAttempts(id), 1);
  });
});
