/**
 * MCP stdio servers on SANDBOX=kubernetes: each listing (at the worker's start) and each
 * call is a Job whose exec container — the server's `image`, else K8S_RUNNER_IMAGE —
 * starts the server as the runner's child (../mcp-exec.ts) and reports on stdout. The pod
 * is the sandbox, with the tools' network policy (S3 only); a `workspace` server works in
 * the step's workspace copy, which the push phase saves. A listing runs under a run id of
 * its own (`mcplist-…`, user agentrun-system), so it never meets a step's records.
 */
import { randomBytes } from 'node:crypto';
import { McpRejected, McpUnavailable } from '../../infra/mcp/index.ts';
import type { McpStdioServerConfig, McpToolInfo } from '../../infra/mcp/index.ts';
import { s3Keys } from '../../shared/names.ts';
import { MCP_REPORT_MARK } from '../mcp-exec.ts';
import type { McpReport } from '../mcp-exec.ts';
import { reportOf } from '../types.ts';
import type { Executor, McpCallOutcome, McpCallRequest, McpCommand } from '../types.ts';

/** Time a Job may take beyond the call's own limit: scheduling, pulls, the server's start, push. */
const JOB_OVERHEAD_MS = 120_000;
/** Bytes of stdout kept: a result holds up to 64 kB of text and a few images. */
const REPORT_MAX_BYTES = 16 << 20;
const LIST_USER = 'agentrun-system';
const LIST_TIMEOUT_MS = 60_000;

type Step = { runId: string; userId: string; index: number; workspacePrefix: string };

export class PodMcpRunner {
  private readonly executor: Executor;
  private readonly defaultImage: string;

  constructor(executor: Executor, defaultImage: string) {
    this.executor = executor;
    this.defaultImage = defaultImage;
  }

  async list(server: string, cfg: McpStdioServerConfig, signal: AbortSignal): Promise<McpToolInfo[]> {
    const runId = `mcplist-${server}-${randomBytes(6).toString('hex')}`;
    const step = { runId, userId: LIST_USER, index: 0, workspacePrefix: s3Keys.workspaceFiles(LIST_USER, runId) };
    const { report } = await this.run(server, cfg, step, undefined, LIST_TIMEOUT_MS, signal);
    if (!('tools' in report)) throw new McpUnavailable(server, 'the listing Job reported no tools');
    return report.tools;
  }

  async call(req: McpCallRequest, cfg: McpStdioServerConfig): Promise<McpCallOutcome> {
    const step = { ...req.step, workspacePrefix: req.workspacePrefix };
    const { report, changedFiles } = await this.run(req.server, cfg, step, { tool: req.tool, args: req.args }, req.timeoutMs, req.signal);
    if (!('result' in report)) throw new McpUnavailable(req.server, 'the call\'s Job reported no result');
    return { ...report.result, changedFiles };
  }

  private async run(server: string, cfg: McpStdioServerConfig, step: Step, call: McpCommand['call'], timeoutMs: number, signal: AbortSignal): Promise<{ report: McpReport; changedFiles: number }> {
    const r = await this.executor.run({
      ...step, image: cfg.image ?? this.defaultImage,
      command: { mcp: { server, argv: cfg.command, env: cfg.env, workspace: cfg.workspace, call, timeoutMs } },
      limits: { timeoutMs: timeoutMs + JOB_OVERHEAD_MS, outputMaxBytes: REPORT_MAX_BYTES },
    }, { signal });
    const got = reportOf<McpReport>(r, MCP_REPORT_MARK);
    if ('missing' in got) throw new McpUnavailable(server, `its Job ended without a report (${got.missing})`);
    const report = got.report;
    if ('error' in report) {
      const message = report.error.message.replace(/^MCP server \S+: /, ''); // the error's own prefix, added again below
      throw report.error.kind === 'rejected' ? new McpRejected(server, message) : new McpUnavailable(server, message);
    }
    return { report, changedFiles: r.changedFiles.length };
  }
}
