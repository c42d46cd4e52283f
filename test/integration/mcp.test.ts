/**
 * The MCP client layer (src/infra/mcp) against the real reference servers from npm, no
 * SDK mocks: server-everything over stdio and over Streamable HTTP (behind a loopback
 * proxy that demands a token header, so the header is seen to arrive and a refusal to be
 * McpRejected), server-filesystem over stdio rooted in a temp dir, stdio launches that die
 * at once, and MCP_SERVERS' schema. The log lines written along the way are captured and
 * must never hold the token.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { freeLoopbackPort } from '../../src/infra/free-port.ts';
import { callTool, close, connectHttp, connectStdio, listTools, McpRejected, McpUnavailable, parseMcpServers } from '../../src/infra/mcp/index.ts';
import type { McpConnection } from '../../src/infra/mcp/index.ts';
import { describeTool, shapeResult } from '../../src/infra/mcp/tools.ts';

const TOKEN = `tok-${Math.random().toString(36).slice(2)}`;
const logLines: string[] = [];
const log = pino({ level: 'debug' }, new Writable({ write(chunk: Buffer, _enc, done) { logLines.push(chunk.toString()); done(); } }));

/** A package's bin entry, resolved from its package.json. */
async function binOf(pkg: string): Promise<string> {
  const manifest = createRequire(import.meta.url).resolve(`${pkg}/package.json`);
  const { bin } = JSON.parse(await readFile(manifest, 'utf8')) as { bin: Record<string, string> };
  const entry = Object.values(bin)[0];
  assert.ok(entry, `${pkg} names no bin`);
  return join(dirname(manifest), entry);
}

const hostEnv = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin' });

describe('MCP client on server-everything over stdio', () => {
  let conn: McpConnection;
  before(async () => {
    conn = await connectStdio('everything', { argv: [process.execPath, await binOf('@modelcontextprotocol/server-everything'), 'stdio'], env: hostEnv() }, { log });
  });
  after(() => close(conn));

  it('lists the tools under qualified names, with their schemas', async () => {
    const tools = await listTools(conn);
    const echo = tools.find((t) => t.name === 'echo');
    assert.ok(echo, `echo missing from ${tools.map((t) => t.name).join(', ')}`);
    assert.equal(echo.qualified, 'mcp:everything.echo');
    assert.equal(echo.description, 'Echoes back the input string');
    assert.deepEqual(echo.inputSchema.required, ['message']);
    assert.ok(tools.some((t) => t.name === 'trigger-long-running-operation'));
    assert.ok(tools.length >= 10);
  });

  it('calls echo and returns its text', async () => {
    assert.deepEqual(await callTool(conn, 'echo', { message: 'hi' }, { timeoutMs: 10_000 }), { isError: false, text: 'Echo: hi', images: [], resources: [] });
  });

  it('returns images, structured content and resource links as given', async () => {
    const image = await callTool(conn, 'get-tiny-image', {}, { timeoutMs: 10_000 });
    assert.equal(image.images[0]?.mimeType, 'image/png');
    assert.ok(Buffer.from(image.images[0]?.data ?? '', 'base64').subarray(1, 4).equals(Buffer.from('PNG')));
    const weather = await callTool(conn, 'get-structured-content', { location: 'New York' }, { timeoutMs: 10_000 });
    assert.equal(typeof (weather.structured as { temperature?: unknown }).temperature, 'number');
    const links = await callTool(conn, 'get-resource-links', { count: 2 }, { timeoutMs: 10_000 });
    assert.deepEqual(links.resources.map((r) => [r.kind, r.uri.startsWith('demo://resource/')]), [['link', true], ['link', true]]);
  });

  it('refuses a tool the server does not list with McpRejected, before asking the server', async () => {
    await assert.rejects(callTool(conn, 'no-such-tool', {}, { timeoutMs: 10_000 }), (err) => err instanceof McpRejected && /no-such-tool refused: the server offers no such tool/.test(err.message));
    await assert.rejects(callTool(conn, 'echo', [] as unknown as Record<string, unknown>, { timeoutMs: 10_000 }), McpRejected);
  });

  it('refuses arguments that do not fit the tool\'s input schema with McpRejected and the schema\'s words, before asking the server', async () => {
    // The server itself would answer these with an isError result ("Input validation error"), not a refusal.
    await assert.rejects(callTool(conn, 'echo', { message: 3 }, { timeoutMs: 10_000 }),
      (err) => err instanceof McpRejected && /tools\/call echo refused: the arguments do not fit the tool's input schema: arguments\/message must be string/.test(err.message));
    await assert.rejects(callTool(conn, 'echo', {}, { timeoutMs: 10_000 }), (err) => err instanceof McpRejected && /arguments must have required property 'message'/.test(err.message));
    assert.equal((await callTool(conn, 'echo', { message: 'fits' }, { timeoutMs: 10_000 })).text, 'Echo: fits');
  });

  it('gives up on a slow tool at its timeout with McpUnavailable naming it, and the connection still works', async () => {
    await assert.rejects(callTool(conn, 'trigger-long-running-operation', { duration: 5, steps: 5 }, { timeoutMs: 300 }),
      (err) => err instanceof McpUnavailable && /tools\/call trigger-long-running-operation timed out after 300 ms/.test(err.message));
    assert.equal((await callTool(conn, 'echo', { message: 'still here' }, { timeoutMs: 10_000 })).text, 'Echo: still here');
  });

  it("rethrows the caller's abort reason rather than an MCP error", async () => {
    const ac = new AbortController();
    const reason = new Error('step cancelled');
    setTimeout(() => ac.abort(reason), 100);
    await assert.rejects(callTool(conn, 'trigger-long-running-operation', { duration: 5, steps: 5 }, { timeoutMs: 10_000, signal: ac.signal }), (err) => err === reason);
  });

  it('after close, a call is McpUnavailable and close can be called again', async () => {
    const other = await connectStdio('everything', { argv: [process.execPath, await binOf('@modelcontextprotocol/server-everything'), 'stdio'], env: hostEnv() }, { log });
    await close(other);
    await close(other);
    await assert.rejects(callTool(other, 'echo', { message: 'x' }, { timeoutMs: 1_000 }), McpUnavailable);
  });
});

describe('MCP client on server-everything over Streamable HTTP', () => {
  let child: ChildProcess;
  let proxy: Server;
  let url: string;
  const tokensSeen: (string | undefined)[] = [];

  before(async () => {
    const port = await freeLoopbackPort();
    // The server takes its port from PORT (dist/transports/streamableHttp.js) and serves /mcp.
    child = spawn(process.execPath, [await binOf('@modelcontextprotocol/server-everything'), 'streamableHttp'], { env: { ...hostEnv(), PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`server-everything did not listen within 20 s: ${stderr}`)), 20_000);
      child.stderr?.on('data', (c: Buffer) => {
        stderr += c.toString();
        if (stderr.includes(`listening on port ${port}`)) { clearTimeout(deadline); resolve(); }
      });
      child.once('exit', (code) => { clearTimeout(deadline); reject(new Error(`server-everything exited (${code}): ${stderr}`)); });
    });
    // In front of it: a proxy that lets through only requests carrying the token.
    proxy = createServer((req, res) => {
      tokensSeen.push(req.headers['x-mcp-token'] as string | undefined);
      if (req.headers['x-mcp-token'] !== TOKEN) { res.writeHead(401).end('token required'); return; }
      const up = httpRequest({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    const proxyPort = await freeLoopbackPort();
    await new Promise<void>((resolve) => proxy.listen(proxyPort, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${proxyPort}/mcp`;
  });
  after(async () => {
    child.kill('SIGKILL');
    await new Promise((resolve) => proxy.close(resolve));
  });

  it('connects with the header, lists and calls echo', async () => {
    const conn = await connectHttp('everything_http', { url, headers: { 'x-mcp-token': TOKEN } }, { log });
    try {
      const tools = await listTools(conn);
      assert.ok(tools.some((t) => t.qualified === 'mcp:everything_http.echo'));
      assert.equal((await callTool(conn, 'echo', { message: 'over http' }, { timeoutMs: 10_000 })).text, 'Echo: over http');
      assert.ok(tokensSeen.length > 0 && tokensSeen.every((t) => t === TOKEN));
    } finally {
      await close(conn);
    }
  });

  it('a refused credential is McpRejected (401) and no message or log line holds the token', async () => {
    await assert.rejects(connectHttp('everything_http', { url, headers: { 'x-mcp-token': `${TOKEN}-wrong` } }, { log }),
      (err) => err instanceof McpRejected && err.code === 401 && !err.message.includes(TOKEN));
    assert.ok(logLines.length > 0);
    assert.ok(logLines.every((l) => !l.includes(TOKEN)), 'a log line holds the token');
  });

  it('a port nobody listens on is McpUnavailable', async () => {
    const port = await freeLoopbackPort();
    await assert.rejects(connectHttp('nobody', { url: `http://127.0.0.1:${port}/mcp` }, { log, connectTimeoutMs: 5_000 }),
      (err) => err instanceof McpUnavailable && /connect failed: .*ECONNREFUSED/.test(err.message));
  });
});

describe('MCP client on server-filesystem over stdio', () => {
  let root: string;
  let conn: McpConnection;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'agentrun-mcp-fs-'));
    await writeFile(join(root, 'notes.txt'), 'first line\nsecond line\n');
    conn = await connectStdio('files', { argv: [process.execPath, await binOf('@modelcontextprotocol/server-filesystem'), root], env: hostEnv() }, { log });
  });
  after(async () => {
    await close(conn);
    await rm(root, { recursive: true, force: true });
  });

  it('lists the directory and reads the file', async () => {
    const names = (await listTools(conn)).map((t) => t.name);
    for (const n of ['list_directory', 'read_text_file', 'write_file']) assert.ok(names.includes(n), `${n} missing from ${names.join(', ')}`);
    const listing = await callTool(conn, 'list_directory', { path: root }, { timeoutMs: 10_000 });
    assert.deepEqual([listing.isError, listing.text], [false, '[FILE] notes.txt']);
    const read = await callTool(conn, 'read_text_file', { path: join(root, 'notes.txt') }, { timeoutMs: 10_000 });
    assert.deepEqual([read.isError, read.text, read.structured], [false, 'first line\nsecond line\n', { content: 'first line\nsecond line\n' }]);
  });

  it('answers a path outside its root with an isError result, not an exception', async () => {
    for (const path of ['/etc/passwd', join(root, '..', '..', 'etc', 'passwd')]) {
      const r = await callTool(conn, 'read_text_file', { path }, { timeoutMs: 10_000 });
      assert.equal(r.isError, true);
      assert.match(r.text, /Access denied - path outside allowed directories/);
    }
  });
});

describe('MCP stdio launches that fail', () => {
  it('a process that exits at once is McpUnavailable quoting its stderr', async () => {
    await assert.rejects(connectStdio('dies', { argv: [process.execPath, '-e', 'process.stderr.write("no config for you\\n"); process.exit(3)'], env: hostEnv() }, { log }),
      (err) => err instanceof McpUnavailable && /connect failed: connection closed; stderr: no config for you/.test(err.message));
    await assert.rejects(connectStdio('dies', { argv: [process.execPath, '-e', 'process.exit(3)'], env: hostEnv() }, { log }),
      (err) => err instanceof McpUnavailable && /connection closed/.test(err.message));
  });

  it('a program that does not exist is McpUnavailable', async () => {
    await assert.rejects(connectStdio('missing', { argv: ['/nonexistent/mcp-server'], env: hostEnv() }, { log }),
      (err) => err instanceof McpUnavailable && /ENOENT/.test(err.message));
  });
});

describe('MCP_SERVERS schema', () => {
  it('parses stdio and HTTP servers, with defaults', () => {
    assert.deepEqual(parseMcpServers(JSON.stringify({
      files: { command: ['mcp-server-filesystem', '/data'], mount: '/srv/data', env: { LOG_LEVEL: 'warn' } },
      'web-search_2': { url: 'https://mcp.example.com/mcp', headers: { authorization: 'Bearer x' } },
      repo: { command: ['mcp-git'], workspace: true },
    })), {
      files: { command: ['mcp-server-filesystem', '/data'], mount: '/srv/data', env: { LOG_LEVEL: 'warn' }, workspace: false },
      'web-search_2': { url: 'https://mcp.example.com/mcp', headers: { authorization: 'Bearer x' } },
      repo: { command: ['mcp-git'], workspace: true },
    });
    assert.deepEqual(parseMcpServers(undefined), {});
  });

  const refusals: [string, unknown, RegExp][] = [
    ['an upper-case name', { Files: { command: ['x'] } }, /Files: server names must match/],
    ['a name too long', { ['a'.repeat(33)]: { command: ['x'] } }, /server names must match/],
    ['a relative mount', { a: { command: ['x'], mount: 'data' } }, /a\.mount: mount must be an absolute host directory/],
    ['a mount with ..', { a: { command: ['x'], mount: '/srv/../etc' } }, /mount must be an absolute host directory/],
    ['an unknown stdio key', { a: { command: ['x'], shell: true } }, /unknown key "shell" \(stdio servers take command, env, mount, workspace, image\)/],
    ['an unknown HTTP key', { a: { url: 'https://x.example', token: 't' } }, /unknown key "token" \(HTTP servers take url, headers\)/],
    ['a non-http url', { a: { url: 'file:///etc/passwd' } }, /url must be an http:\/\/ or https:\/\/ URL/],
    ['credentials in the url', { a: { url: 'https://u:p@x.example/mcp' } }, /url must not carry credentials/],
    ['an empty command', { a: { command: [] } }, /a\.command: command must name at least the program to run/],
    ['a shell line for a command', { a: { command: 'npx server --flag' } }, /command must be an argv array of strings \(no shell line\)/],
    ['both command and url', { a: { command: ['x'], url: 'https://x.example' } }, /either command \(stdio\) or url \(HTTP\), not both/],
    ['neither', { a: { env: {} } }, /must be an object with command \(stdio\) or url \(HTTP\)/],
    ['a list instead of an object', [], /MCP_SERVERS must be a JSON object/],
  ];
  for (const [what, value, message] of refusals) {
    it(`refuses ${what}`, () => assert.throws(() => parseMcpServers(JSON.stringify(value)), message));
  }
  it('refuses text that is not JSON', () => assert.throws(() => parseMcpServers('{files:'), /MCP_SERVERS is not JSON/));
});

describe('MCP tool listings and results as untrusted text', () => {
  it('leaves out tools with unquotable names or oversized schemas, and cleans descriptions', () => {
    assert.match((describeTool('s', { name: 'rm -rf', inputSchema: { type: 'object' } }) as { skipped: string }).skipped, /does not match/);
    const big = { type: 'object', properties: { x: { type: 'string', description: 'y'.repeat(21_000) } } };
    assert.match((describeTool('s', { name: 'big', inputSchema: big }) as { skipped: string }).skipped, /input schema is \d+ bytes, over 20000/);
    const ok = describeTool('s', { name: 'ok', description: `a\u202Eb\u0007c\u{E0041}d\n${'z'.repeat(2000)}`, inputSchema: { type: 'object' } });
    assert.ok('tool' in ok);
    assert.equal(ok.tool.description.slice(0, 5), 'abcd\n');
    assert.equal(ok.tool.description.length, 1000);
  });

  it('caps result text at 64 kB and says so', () => {
    const r = shapeResult({ content: [{ type: 'text', text: 'é'.repeat(40_000) }, { type: 'text', text: 'tail' }] });
    assert.ok(Buffer.byteLength(r.text) <= 64 * 1024);
    assert.match(r.text, /\[… 80005 bytes in all, cut to 65536\]$/);
  });
});
