/**
 * Failures of the outside services a tool calls (Brave Search, a fetched site, a page the
 * browser opens, an MCP server), told apart from our own infrastructure's (S3, Redis, the
 * database, the apiserver, a worker going away), which stay plain errors. Each attempt that
 * fails with one counts one failure on the user's breaker for the tool (../steps.ts), and
 * the workflow caps those tools' attempts (src/workflows/proxies.ts), so a service that is
 * down ends its steps within minutes and opens the breaker instead of being retried for hours.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { FAILURE_TYPES } from '../errors.ts';

/** The failure types of the outside services (../errors.ts). */
const TYPES: ReadonlySet<string> = new Set([FAILURE_TYPES.searchUnavailable, FAILURE_TYPES.mcpUnavailable, FAILURE_TYPES.fetchUnavailable, FAILURE_TYPES.pageUnavailable]);

/** An attempt failed by the outside service: retried unless `nonRetryable`, after `nextRetryDelayMs` when the service said. */
export function outsideFailure(type: string, message: string, opts: { nonRetryable?: boolean; nextRetryDelayMs?: number } = {}): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: opts.nonRetryable ?? false, nextRetryDelay: opts.nextRetryDelayMs });
}

/**
 * `err` (an outside service's failure, retried) with the wait before the next attempt: the
 * service's own when it said one (Retry-After), else `baseMs` doubled for each attempt
 * after the first, up to 8 times it (OUTSIDE_RETRY_MS; the workflow's retry policy, which
 * a worker cannot change for runs in flight, keeps the attempt cap).
 */
export function retriedAfter(err: ApplicationFailure, baseMs: number, attempt: number): ApplicationFailure {
  if (err.nonRetryable || (err.nextRetryDelay !== undefined && err.nextRetryDelay !== null)) return err;
  const nextRetryDelay = Math.min(baseMs * 2 ** Math.max(attempt - 1, 0), baseMs * 8);
  return ApplicationFailure.create({ type: err.type ?? undefined, message: err.message, details: err.details as unknown[] | undefined, nextRetryDelay });
}

/** Whether `err` is an outside service's failure (not ours, not a refusal of the step's input). */
export function isOutsideFailure(err: unknown): err is ApplicationFailure {
  return err instanceof ApplicationFailure && typeof err.type === 'string' && TYPES.has(err.type);
}

/** A Chromium network error (`net::ERR_CONNECTION_REFUSED`, …): the page's site, not our browser, failed. */
export const isPageNetworkError = (err: unknown): boolean => err instanceof Error && /\bnet::ERR_[A-Z_]+/.test(err.message);

/**
 * Whether an MCP failure came after `tools/call` was sent and before it was answered (it
 * timed out): the tool may have run on the server, so calling it again could run a
 * non-idempotent tool (create_issue) twice. The message is the one mark that crosses a
 * tool pod's report too (src/infra/mcp/errors.ts writes it); a connect or listing that
 * timed out, or a connection refused, never sent the call and is worth another attempt.
 */
export const mcpCallMayHaveRun = (err: Error): boolean => /\btools\/call \S+ timed out\b/.test(err.message);
