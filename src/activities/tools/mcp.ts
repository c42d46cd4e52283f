/**
 * mcp: calls an MCP connector's tool (MCP_SERVERS) through the executor's connectors
 * (src/sandbox/mcp.ts), bounded by MCP_TIMEOUT. The result — text, structured content,
 * resource links — goes to the log and to mcp/NNN.json in the workspace, images next to
 * it (mcp/NNN-1.png, …). A tool that ran and failed (`isError`) fails the step with its
 * words; a refused call (no such tool, arguments its schema rejects, credentials refused)
 * fails for good (`McpRejected`); transport trouble (a server that did not start or
 * answer) is thrown for Temporal to retry. A `tools/call` that timed out is not retried: it
 * may have run on the server, and a non-idempotent tool must not run twice. Both count on
 * the tool's breaker. What a server says is untrusted.
 */
import type { ActivityDeps } from '../deps.ts';
import { FAILURE_TYPES, nonRetryable } from '../errors.ts';
import { writeFile } from './files.ts';
import { mcpCallMayHaveRun, outsideFailure } from './outside.ts';
import type { Workspace, WriteOptions } from './files.ts';
import { McpRejected, McpUnavailable } from '../../infra/mcp/index.ts';
import { s3Keys } from '../../shared/names.ts';
import type { PlanStep, StepResult } from '../../shared/run.ts';
import { toolLabel } from '../../shared/tool-label.ts';

type McpStep = Extract<PlanStep, { tool: 'mcp' }>;

/** Characters of a result's text shown on the log (the saved file holds it all, up to 64 kB). */
const LOG_CHARS = 16_000;
const IMAGE_TYPES: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/webp': 'webp' };

export const resultPath = (index: number, n?: number) => `mcp/${String(index).padStart(3, '0')}${n === undefined ? '.json' : `-${n}`}`;

export interface McpOutcome {
  result: StepResult;
  log: { connector: string; isError: boolean; text: string; saved: string[]; changedFiles: number };
}

export async function callMcp(deps: ActivityDeps, ws: Workspace, index: number, step: McpStep, write: WriteOptions, signal: AbortSignal): Promise<McpOutcome> {
  const label = toolLabel(step);
  const host = deps.sandbox.mcp;
  const absent = host ? host.absent(step.server) : 'no MCP servers are configured here (MCP_SERVERS)';
  if (absent || !host) throw nonRetryable(FAILURE_TYPES.toolUnavailable, `${label} is not available: ${absent}`);
  let r;
  try {
    r = await host.call({
      server: step.server, tool: step.name, args: step.arguments ?? {}, timeoutMs: deps.tools.mcp.timeoutMs, signal,
      step: { runId: ws.runId, userId: ws.userId, index },
      workspacePrefix: s3Keys.workspaceFiles(ws.userId, ws.workspaceId),
    });
  } catch (err) {
    if (err instanceof McpRejected) throw nonRetryable(FAILURE_TYPES.mcpRejected, `${label}: ${err.message}`, { server: step.server, tool: step.name });
    if (err instanceof McpUnavailable && mcpCallMayHaveRun(err)) {
      throw outsideFailure(FAILURE_TYPES.mcpUnavailable, `${label}: ${err.message}; the call may have run on the server, so it is not made again`, { nonRetryable: true });
    }
    if (err instanceof McpUnavailable) throw outsideFailure(FAILURE_TYPES.mcpUnavailable, `${label}: ${err.message}`);
    throw err;
  }
  const saved: string[] = [];
  const path = resultPath(index);
  const record = { connector: label, arguments: step.arguments ?? {}, isError: r.isError, text: r.text, structured: r.structured, resources: r.resources };
  await writeFile(deps, ws, path, Buffer.from(`${JSON.stringify(record, null, 2)}\n`), write);
  saved.push(path);
  for (const [i, image] of r.images.entries()) {
    const ext = IMAGE_TYPES[image.mimeType];
    if (!ext) continue; // a type the workspace would not serve as an image
    const imagePath = `${resultPath(index, i + 1)}.${ext}`;
    await writeFile(deps, ws, imagePath, Buffer.from(image.data, 'base64'), write);
    saved.push(imagePath);
  }
  const first = r.text.split('\n').find((l) => l.trim() !== '')?.slice(0, 200) ?? '(no text)';
  const changed = r.changedFiles > 0 ? `; ${r.changedFiles} workspace file(s) changed` : '';
  const summary = `${label}${r.isError ? ' failed' : ''}: ${first}; saved ${saved.join(', ')}${changed}`;
  return {
    result: { index, tool: step.tool, ok: !r.isError, summary, durationMs: 0 },
    log: { connector: label, isError: r.isError, text: r.text.slice(0, LOG_CHARS), saved, changedFiles: r.changedFiles },
  };
}
