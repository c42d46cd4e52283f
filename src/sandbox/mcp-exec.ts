/**
 * An MCP stdio server inside a Kubernetes Job's exec container (SANDBOX=kubernetes): the
 * pod is the sandbox, so the runner starts the server as its child (none of the runner's
 * environment but PATH and HOME, plus the server's own `env`), in the workspace copy for
 * a `workspace` server (the push phase saves what it changed), calls the tool — or lists
 * the tools — and prints one marked JSON line. Errors are reported as data, with their
 * kind, so the worker can tell a refusal (not worth retrying) from trouble (worth it).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { callTool, close, connectStdio, listTools, McpRejected } from '../infra/mcp/index.ts';
import type { McpCallResult, McpToolInfo } from '../infra/mcp/index.ts';
import type { McpCommand, OwnOutcome } from './types.ts';

/** The prefix of the report line on stdout. */
export const MCP_REPORT_MARK = 'agentrun-mcp-report ';

export type McpReport =
  | { result: McpCallResult }
  | { tools: McpToolInfo[] }
  | { error: { kind: 'rejected' | 'unavailable'; message: string } };

export async function mcpExec(cmd: McpCommand, workspaceDir: string, signal: AbortSignal): Promise<OwnOutcome> {
  const started = performance.now();
  const scratch = cmd.workspace ? undefined : await mkdtemp(join(tmpdir(), 'agentrun-mcp-'));
  let report: McpReport;
  try {
    const env = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8', ...cmd.env };
    const conn = await connectStdio(cmd.server, { argv: cmd.argv, env, cwd: scratch ?? workspaceDir }, { log: pino({ level: 'silent' }), signal });
    try {
      report = cmd.call
        ? { result: await callTool(conn, cmd.call.tool, cmd.call.args, { timeoutMs: cmd.timeoutMs, signal }) }
        : { tools: await listTools(conn, { timeoutMs: cmd.timeoutMs, signal }) };
    } finally {
      await close(conn);
    }
  } catch (err) {
    report = { error: { kind: err instanceof McpRejected ? 'rejected' : 'unavailable', message: (err as Error).message } };
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
  return { exitCode: 0, stdout: `${MCP_REPORT_MARK}${JSON.stringify(report)}\n`, stderr: '', durationMs: Math.round(performance.now() - started) };
}
