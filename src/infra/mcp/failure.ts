/**
 * The pure mapping from what the MCP SDK throws to the two errors of errors.ts. Messages
 * quote the server's words and the tail of a stdio server's stderr (both capped, control
 * characters stripped), never request headers or environment values.
 */
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { McpRejected, McpUnavailable } from './errors.ts';
import { plainText } from './text.ts';

const REJECTED_CODES: ReadonlySet<number> = new Set([ErrorCode.InvalidParams, ErrorCode.MethodNotFound, ErrorCode.InvalidRequest]);
const TIMEOUT: number = ErrorCode.RequestTimeout;
const CLOSED: number = ErrorCode.ConnectionClosed;
const MESSAGE_CHARS = 500;

export interface FailureContext {
  server: string;
  /** What was being done, e.g. `tools/call echo`. */
  what: string;
  /** The request's timeout, quoted when it expires. */
  timeoutMs?: number;
  /** The last of a stdio server's stderr, quoted when the connection failed. */
  stderrTail?: string;
}

/** The McpUnavailable or McpRejected that `err`, thrown by the SDK while doing `ctx.what`, stands for. */
export function mcpFailure(err: unknown, ctx: FailureContext): McpUnavailable | McpRejected {
  if (err instanceof McpUnavailable || err instanceof McpRejected) return err;
  // fetch's "fetch failed" says why only in its cause (ECONNREFUSED, ENOTFOUND, …).
  const cause = err instanceof Error && err.cause instanceof Error ? (err.cause as Error & { code?: unknown }) : undefined;
  const why = cause ? ` (${typeof cause.code === 'string' ? cause.code : cause.message})` : '';
  const said = plainText((err instanceof Error ? err.message : String(err)) + why, MESSAGE_CHARS);
  const stderr = ctx.stderrTail ? `; stderr: ${plainText(ctx.stderrTail, 2048).trim()}` : '';
  if (err instanceof McpError) {
    if (err.code === TIMEOUT) {
      return new McpUnavailable(ctx.server, `${ctx.what} timed out${ctx.timeoutMs === undefined ? '' : ` after ${ctx.timeoutMs} ms`}`, { cause: err });
    }
    if (REJECTED_CODES.has(err.code)) return new McpRejected(ctx.server, `${ctx.what} refused: ${said}`, err.code, { cause: err });
    if (err.code === CLOSED) return new McpUnavailable(ctx.server, `${ctx.what} failed: connection closed${stderr}`, { cause: err });
    return new McpUnavailable(ctx.server, `${ctx.what} failed: ${said}`, { cause: err });
  }
  if (err instanceof UnauthorizedError || (err instanceof StreamableHTTPError && (err.code === 401 || err.code === 403))) {
    const status = err instanceof StreamableHTTPError ? err.code : 401;
    return new McpRejected(ctx.server, `${ctx.what} refused: the server did not accept our credentials (HTTP ${status})`, status, { cause: err });
  }
  return new McpUnavailable(ctx.server, `${ctx.what} failed: ${said}${stderr}`, { cause: err });
}
