/**
 * Failure types activities raise. Business refusals are non-retryable
 * ApplicationFailures with one of these types; transient trouble stays a plain
 * error so Temporal retries it.
 */
import { ApplicationFailure } from '@temporalio/common';

export const FAILURE_TYPES = {
  /** The prompt could not be turned into a plan (syntax error). */
  invalidPrompt: 'InvalidPrompt',
  /** A workspace path failed the safety check. */
  invalidPath: 'InvalidPath',
  /** read_file named a file that is not in the workspace. */
  fileNotFound: 'FileNotFound',
} as const;

export function nonRetryable(type: string, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: details === undefined ? undefined : [details] });
}
