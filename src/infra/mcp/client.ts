/**
 * A connection to one MCP server through the SDK's Client: over stdio to a process the
 * caller has prepared (the sandbox layer decides the exact argv, e.g. a bubblewrap jail,
 * so nothing here builds a command line or uses a shell), or over Streamable HTTP with
 * the configured headers. It lists tools (paginated, at most 500) and calls them with a
 * timeout and the caller's abort signal. It refuses to call a tool the server did not
 * list, or that the listing left out (bad name, oversized schema), and arguments that are
 * not a JSON object or do not fit the tool's input schema (arguments.ts). It never logs header or environment values, argv or URLs beyond
 * their origin. Transport trouble is McpUnavailable, a refusal McpRejected (errors.ts);
 * an aborted signal rethrows the signal's reason, so cancellation stays cancellation.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Logger } from 'pino';
import { argumentsError } from './arguments.ts';
import { McpRejected, McpUnavailable } from './errors.ts';
import { mcpFailure } from './failure.ts';
import { plainText } from './text.ts';
import { describeTool, shapeResult } from './tools.ts';
import type { McpCallResult, McpToolInfo } from './tools.ts';

/**
 * How to start a stdio server, exactly: argv[0] is spawned with argv[1..] (no shell) in
 * `cwd` with `env`. The SDK adds HOME, LOGNAME, PATH, SHELL, TERM and USER from this
 * process unless `env` sets them.
 */
export interface StdioLaunch { argv: string[]; env: Record<string, string>; cwd?: string }
export interface HttpTarget { url: string; headers?: Record<string, string> }

export interface McpConnectOptions {
  log: Logger;
  /** Spawn/connect plus the initialize handshake. Default 30 s. */
  connectTimeoutMs?: number;
  signal?: AbortSignal;
}
export interface McpRequestOptions { timeoutMs?: number; signal?: AbortSignal }
export interface McpCallOptions { timeoutMs: number; signal?: AbortSignal }

const DEFAULTS = { connectTimeoutMs: 30_000, listTimeoutMs: 30_000, maxTools: 500, maxListPages: 100, stderrTailChars: 2048, httpTerminateMs: 2_000 } as const;

/** An open connection; only this module reads its insides. */
export class McpConnection {
  readonly server: string;
  readonly transport: 'stdio' | 'http';
  /** @internal */ readonly client: Client;
  /** @internal */ readonly log: Logger;
  /** @internal */ stderrTail = '';
  /** @internal */ closed = false;
  /** @internal */ tools?: Promise<Map<string, McpToolInfo>>;
  /** @internal */ readonly sdkTransport: Transport;

  constructor(server: string, kind: 'stdio' | 'http', sdkTransport: Transport, log: Logger) {
    this.server = server;
    this.transport = kind;
    this.sdkTransport = sdkTransport;
    this.log = log.child({ component: 'mcp', server, transport: kind });
    this.client = new Client({ name: 'agentrun', version: '0.1.0' }, { capabilities: {} });
    this.client.onclose = () => { this.closed = true; };
    // Errors the transport reports outside a request; a request's own failure says more.
    this.client.onerror = (err) => this.log.debug({ err: err.message.slice(0, 300) }, 'mcp transport error');
  }
}

/** Runs one SDK request, mapping its failure; an aborted `signal` rethrows its reason. */
async function request<T>(conn: McpConnection, what: string, timeoutMs: number | undefined, signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
  if (conn.closed) throw new McpUnavailable(conn.server, `${what} failed: the connection is closed${conn.stderrTail ? `; stderr: ${plainText(conn.stderrTail, 2048).trim()}` : ''}`);
  try {
    return await run();
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    // A stdio server's last words may still be on their way through the pipe.
    if (conn.transport === 'stdio') await new Promise((resolve) => setImmediate(resolve));
    throw mcpFailure(err, { server: conn.server, what, timeoutMs, stderrTail: conn.stderrTail });
  }
}

async function open(conn: McpConnection, opts: McpConnectOptions): Promise<McpConnection> {
  const timeoutMs = opts.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
  try {
    await request(conn, 'connect', timeoutMs, opts.signal, () => conn.client.connect(conn.sdkTransport, { timeout: timeoutMs, signal: opts.signal }));
  } catch (err) {
    await close(conn);
    throw err;
  }
  const info = conn.client.getServerVersion();
  conn.log.debug({ serverName: info?.name.slice(0, 100), serverVersion: info?.version.slice(0, 50) }, 'mcp connected');
  return conn;
}

/** Starts `launch` and speaks MCP over its stdin/stdout; its stderr is kept (last 2 kB) to quote in errors. */
export async function connectStdio(server: string, launch: StdioLaunch, opts: McpConnectOptions): Promise<McpConnection> {
  const [command, ...args] = launch.argv;
  if (command === undefined) throw new McpRejected(server, 'connect refused: the launch argv is empty');
  const transport = new StdioClientTransport({ command, args, env: launch.env, cwd: launch.cwd, stderr: 'pipe' });
  const conn = new McpConnection(server, 'stdio', transport, opts.log);
  transport.stderr?.on('data', (chunk: Buffer | string) => {
    conn.stderrTail = (conn.stderrTail + chunk.toString()).slice(-DEFAULTS.stderrTailChars);
  });
  return open(conn, opts);
}

/** Connects to a Streamable HTTP server, sending `headers` (e.g. a token) with every request. */
export async function connectHttp(server: string, target: HttpTarget, opts: McpConnectOptions): Promise<McpConnection> {
  let url: URL;
  try {
    url = new URL(target.url);
  } catch {
    throw new McpRejected(server, 'connect refused: the url is not a URL');
  }
  const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers: target.headers ?? {} } });
  const conn = new McpConnection(server, 'http', transport, opts.log);
  conn.log.debug({ origin: url.origin, headerNames: Object.keys(target.headers ?? {}) }, 'mcp connecting');
  return open(conn, opts);
}

async function fetchTools(conn: McpConnection, opts: McpRequestOptions): Promise<Map<string, McpToolInfo>> {
  const timeoutMs = opts.timeoutMs ?? DEFAULTS.listTimeoutMs;
  const tools = new Map<string, McpToolInfo>();
  const seen = new Set<string>();
  let cursor: string | undefined;
  for (let page = 0; page < DEFAULTS.maxListPages; page++) {
    const res = await request(conn, 'tools/list', timeoutMs, opts.signal, () => conn.client.listTools(cursor === undefined ? {} : { cursor }, { timeout: timeoutMs, signal: opts.signal }));
    for (const raw of res.tools) {
      if (tools.size >= DEFAULTS.maxTools) {
        conn.log.warn({ maxTools: DEFAULTS.maxTools }, 'mcp server lists more tools than allowed; the rest are left out');
        return tools;
      }
      const shaped = describeTool(conn.server, raw);
      if ('skipped' in shaped) conn.log.warn({ reason: shaped.skipped }, 'mcp tool left out');
      else if (!tools.has(shaped.tool.name)) tools.set(shaped.tool.name, shaped.tool);
    }
    cursor = res.nextCursor;
    if (cursor === undefined || seen.has(cursor)) return tools;
    seen.add(cursor);
  }
  conn.log.warn({ maxListPages: DEFAULTS.maxListPages }, 'mcp tool listing has too many pages; the rest are left out');
  return tools;
}

/** The connection's tools by name, listed on first use (a failed listing is tried again next time). */
function knownTools(conn: McpConnection, opts: McpRequestOptions): Promise<Map<string, McpToolInfo>> {
  if (!conn.tools) {
    const listing = fetchTools(conn, opts);
    conn.tools = listing;
    listing.catch(() => { if (conn.tools === listing) conn.tools = undefined; });
  }
  return conn.tools;
}

/** The tools the server offers, as the caller may show them to a model (listed once per connection). */
export async function listTools(conn: McpConnection, opts: McpRequestOptions = {}): Promise<McpToolInfo[]> {
  return [...(await knownTools(conn, opts)).values()];
}

/**
 * Calls tool `name` (the server's own name, not the qualified one) with `args`. A tool
 * that ran and failed comes back with `isError: true`; only transport trouble and refusals
 * throw.
 */
export async function callTool(conn: McpConnection, name: string, args: Record<string, unknown>, opts: McpCallOptions): Promise<McpCallResult> {
  const what = `tools/call ${name.slice(0, 64)}`;
  if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new McpRejected(conn.server, `${what} refused: arguments must be a JSON object`);
  const tool = (await knownTools(conn, opts)).get(name);
  if (!tool) throw new McpRejected(conn.server, `${what} refused: the server offers no such tool (or it was left out of the listing)`);
  const unfit = argumentsError(tool.inputSchema, args);
  if (unfit) throw new McpRejected(conn.server, `${what} refused: the arguments do not fit the tool's input schema: ${unfit}`);
  const raw = await request(conn, what, opts.timeoutMs, opts.signal, () => conn.client.callTool({ name, arguments: args }, undefined, { timeout: opts.timeoutMs, signal: opts.signal }));
  return shapeResult(raw as { content?: unknown; isError?: unknown; structuredContent?: unknown });
}

/** Closes the connection (ending an HTTP session, stopping a stdio process: stdin closed, then SIGTERM, then SIGKILL). Never throws. */
export async function close(conn: McpConnection): Promise<void> {
  conn.closed = true;
  try {
    if (conn.sdkTransport instanceof StreamableHTTPClientTransport && conn.sdkTransport.sessionId !== undefined) {
      const timer = new Promise<void>((resolve) => setTimeout(resolve, DEFAULTS.httpTerminateMs).unref());
      await Promise.race([conn.sdkTransport.terminateSession().catch(() => undefined), timer]);
    }
  } catch { /* best effort: the server ends idle sessions itself */ }
  try {
    await conn.client.close();
  } catch (err) {
    conn.log.debug({ err: (err as Error).message.slice(0, 300) }, 'mcp close failed');
  }
}
