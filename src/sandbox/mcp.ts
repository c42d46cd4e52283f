/**
 * MCP connectors in the executor's posture (MCP_SERVERS). A stdio server is started per
 * call inside a step's bubblewrap jail (SANDBOX=local): no network but its own loopback,
 * none of the worker's environment (only its configured `env`), its `mount` read-only at
 * /opt/mcp/<the directory's name> (a node_modules stays one, so packages resolve), and — with `workspace: true` — the step's working copy of the run's workspace
 * at /workspace as its directory, whose changes are saved back like a shell step's. Under
 * SANDBOX=unsafe-host it is a plain child process; on SANDBOX=kubernetes every listing
 * and call is a Job whose runner starts it (./kubernetes/mcp.ts). An HTTP server is an
 * operator-configured service reached directly, with its headers.
 *
 * `discover` lists every server's tools at start: a stdio server that cannot list them
 * stops the worker (its config is wrong); an HTTP one is logged and its tools are not
 * offered by this worker (the planner's list is fixed at start).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import { callTool, close, connectHttp, connectStdio, isStdioServer, listTools } from '../infra/mcp/index.ts';
import type { McpConnection, McpServerConfig, McpServers, McpStdioServerConfig, McpToolInfo, StdioLaunch } from '../infra/mcp/index.ts';
import { WORKING_COPY_MAX_BYTES } from './execute.ts';
import { JAIL, jailPath } from './bwrap.ts';
import type { Jail, Jailed } from './jail.ts';
import type { PodMcpRunner } from './kubernetes/mcp.ts';
import type { McpCallOutcome, McpCallRequest, McpConnectors, SandboxWorkspace } from './types.ts';

export class McpHost implements McpConnectors {
  private readonly servers: McpServers;
  private readonly jail: Jail | undefined;
  private readonly posture: 'jailed' | 'host' | 'kubernetes';
  private readonly workspace: SandboxWorkspace;
  private readonly log: Logger;
  private listed = new Map<string, McpToolInfo[]>();
  /** SANDBOX=kubernetes: stdio servers run in Jobs. */
  private readonly pods: PodMcpRunner | undefined;

  constructor(o: { servers: McpServers; jail: Jail | undefined; posture: 'jailed' | 'host' | 'kubernetes'; workspace: SandboxWorkspace; log: Logger; pods?: PodMcpRunner }) {
    this.servers = o.servers;
    this.jail = o.jail;
    this.posture = o.posture;
    this.workspace = o.workspace;
    this.log = o.log;
    this.pods = o.pods;
  }

  /** Why `server` cannot be called here, or undefined when it can. */
  absent(server: string): string | undefined {
    const cfg = this.servers[server];
    if (!cfg) return `no MCP server "${server}" is configured (MCP_SERVERS names ${Object.keys(this.servers).join(', ') || 'none'})`;
    if (isStdioServer(cfg) && this.posture === 'kubernetes' && !this.pods) return `"${server}" is a stdio MCP server and this worker has no Jobs to run it in`;
    return undefined;
  }

  /** The tools the planner may use: those of every server listed so far. */
  tools(): McpToolInfo[] {
    return [...this.listed.values()].flat();
  }

  /** Lists every callable server's tools; throws (one line) when a stdio server cannot list them. */
  async discover(): Promise<void> {
    for (const [name, cfg] of Object.entries(this.servers)) {
      if (this.absent(name)) {
        this.log.warn({ server: name, reason: this.absent(name) }, 'MCP server not offered');
        continue;
      }
      try {
        const signal = AbortSignal.timeout(this.pods ? 300_000 : 60_000);
        this.listed.set(name, this.pods && isStdioServer(cfg) ? await this.pods.list(name, cfg, signal) : await this.withConnection(name, cfg, undefined, signal, (conn) => listTools(conn)));
        this.log.info({ server: name, tools: this.listed.get(name)!.length }, 'MCP server listed');
      } catch (err) {
        if (isStdioServer(cfg)) throw new Error(`MCP server "${name}" could not list its tools: ${(err as Error).message}`, { cause: err });
        this.log.warn({ server: name, err: (err as Error).message }, 'MCP server did not list its tools: this worker does not offer them (restart it once the server answers)');
      }
    }
  }

  async call(req: McpCallRequest): Promise<McpCallOutcome> {
    const cfg = this.servers[req.server]!;
    if (this.pods && isStdioServer(cfg)) return this.pods.call(req, cfg);
    let changedFiles = 0;
    const result = await this.withConnection(req.server, cfg, req.workspacePrefix, req.signal, async (conn, saveBack) => {
      const r = await callTool(conn, req.tool, req.args, { timeoutMs: req.timeoutMs, signal: req.signal });
      await close(conn);
      changedFiles = await saveBack();
      return r;
    });
    return { ...result, changedFiles };
  }

  /** Opens a connection (a jailed process for stdio), runs `use`, and always cleans up. */
  private async withConnection<T>(
    name: string, cfg: McpServerConfig, workspacePrefix: string | undefined, signal: AbortSignal,
    use: (conn: McpConnection, saveBack: () => Promise<number>) => Promise<T>,
  ): Promise<T> {
    const log = this.log;
    if (!isStdioServer(cfg)) {
      const conn = await connectHttp(name, { url: cfg.url, headers: cfg.headers }, { log, signal });
      try {
        return await use(conn, async () => 0);
      } finally {
        await close(conn);
      }
    }
    const scratch = await mkdtemp(join(tmpdir(), 'agentrun-mcp-'));
    const held: { jailed?: Jailed } = {};
    try {
      const dir = join(scratch, 'workspace');
      await mkdir(dir);
      const snapshot = cfg.workspace && workspacePrefix ? await this.workspace.pull(workspacePrefix, dir, WORKING_COPY_MAX_BYTES) : undefined;
      const launch = await this.launch(cfg, scratch, dir, (j) => { held.jailed = j; });
      const conn = await connectStdio(name, launch, { log, signal });
      try {
        return await use(conn, async () => {
          if (!snapshot || !workspacePrefix) return 0;
          const pushed = await this.workspace.push(workspacePrefix, dir, snapshot, this.workspace.fileMaxBytes);
          return pushed.changed.length;
        });
      } finally {
        await close(conn);
      }
    } finally {
      await held.jailed?.leave().catch(() => undefined);
      await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** How to start a stdio server: in a jail (SANDBOX=local), or plainly (unsafe-host). */
  private async launch(cfg: McpStdioServerConfig, scratch: string, dir: string, entered: (j: Jailed) => void): Promise<StdioLaunch> {
    if (!this.jail) {
      return { argv: cfg.command, env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8', ...cfg.env }, cwd: dir };
    }
    const j = await this.jail.enter({
      scratch, workspaceDir: dir, env: cfg.env, command: () => cfg.command,
      roBinds: cfg.mount ? [{ host: cfg.mount, at: `${JAIL.mcp}/${basename(cfg.mount)}` }] : [],
    });
    entered(j);
    // The SDK adds a few of the worker's variables (HOME, PATH, …) to what it spawns; bubblewrap clears them all.
    return { argv: j.launchArgv, env: { PATH: jailPath(false) } };
  }
}
