/**
 * Failure types activities raise. Business refusals are non-retryable
 * ApplicationFailures with one of these types; transient trouble stays a plain
 * error so Temporal retries it.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { SandboxDeadlineExceeded, SandboxFailed, SandboxNoResult } from '../sandbox/errors.ts';
import { WorkspaceConflictError } from '../workspace/errors.ts';

export const FAILURE_TYPES = {
  /** The prompt could not be turned into a plan (syntax error). */
  invalidPrompt: 'InvalidPrompt',
  /** A workspace path failed the safety check. */
  invalidPath: 'InvalidPath',
  /** read_file named a file that is not in the workspace. */
  fileNotFound: 'FileNotFound',
  /** A file tool met a file (or content) larger than WORKSPACE_FILE_MAX_BYTES. */
  fileTooLarge: 'FileTooLarge',
  /** write_file found the file changed since the step observed it: a newer writer's content is kept. */
  writeConflict: 'WriteConflict',
  /** The LLM provider refused the request (400, 401, 403, 404, 413 …): retrying cannot help. */
  llmRejected: 'LlmRequestRejected',
  /** The model's answer did not match the expected structure. */
  llmInvalidOutput: 'LlmInvalidOutput',
  /** The LLM provider is overloaded or unreachable (429, 529, 5xx, network): retried, after retry-after when given. */
  llmUnavailable: 'LlmUnavailable',
  /** A sandbox execution's Job failed (a container exited non-zero, was OOM-killed, or could not start). */
  sandboxFailed: 'SandboxFailed',
  /** A sandbox execution's Job ran past activeDeadlineSeconds. */
  sandboxDeadline: 'SandboxDeadlineExceeded',
  /** A Job completed but its runner left no result record. */
  sandboxNoResult: 'SandboxNoResult',
  /** S3 held newer content than the execution started from; nothing was overwritten. */
  workspaceConflict: 'WorkspaceConflict',
  /** fetch_url named something the egress policy refuses (an internal address, a port, a scheme, a redirect there, a body too large). */
  fetchRefused: 'FetchRefused',
  /** A plan named a tool this worker does not offer (web_search without BRAVE_API_KEY). */
  toolUnavailable: 'ToolUnavailable',
  /** The search provider refused the query (a bad key, a bad query): retrying cannot help. */
  searchRejected: 'SearchRejected',
  /** The search provider is rate-limiting or down (429, 5xx, network): retried. */
  searchUnavailable: 'SearchUnavailable',
  /** An MCP server refused the call (no such tool, arguments its schema rejects, credentials refused): retrying cannot help. */
  mcpRejected: 'McpRejected',
  /** An MCP server did not start, answer or finish in MCP_TIMEOUT: retried. */
  mcpUnavailable: 'McpUnavailable',
  /** fetch_url's site answered 5xx or 429, or could not be reached or read in time: retried. */
  fetchUnavailable: 'FetchUnavailable',
  /** browser's page could not be loaded (a network error of Chromium's, `net::ERR_…`): retried. */
  pageUnavailable: 'PageUnavailable',
} as const;

export function nonRetryable(type: string, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: details === undefined ? undefined : [details] });
}

/**
 * The Temporal failure for an error of the sandbox or the workspace (the same `type`s and
 * non-retryability steps have always had); any other error is returned as it is.
 */
export function stepFailure(err: unknown): unknown {
  if (err instanceof SandboxDeadlineExceeded) return nonRetryable(FAILURE_TYPES.sandboxDeadline, err.message, err.details);
  if (err instanceof SandboxNoResult) return nonRetryable(FAILURE_TYPES.sandboxNoResult, err.message, err.details);
  if (err instanceof SandboxFailed) return nonRetryable(FAILURE_TYPES.sandboxFailed, err.message, err.details);
  if (err instanceof WorkspaceConflictError) return nonRetryable(FAILURE_TYPES.workspaceConflict, err.message, { path: err.path });
  return err;
}

/** The activity's cancellation is this worker shutting down (the SDK's 'WORKER_SHUTDOWN'), not a cancel of the step. */
export function isWorkerShutdown(reason: unknown): boolean {
  return reason instanceof CancelledFailure && reason.message === 'WORKER_SHUTDOWN';
}
