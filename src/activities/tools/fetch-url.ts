/**
 * fetch_url: GET a URL through the egress guard (src/infra/egress.ts) into the run's
 * workspace, or its text into the log. A URL the policy refuses (a private address, a
 * disallowed port or scheme, a redirect to either, a body too large or of a type not
 * fetched) fails the step for good, with the rule it broke, and is not held against the
 * tool's breaker (it is the model's input, not an outage); an answer of 4xx is a failed
 * step; 5xx, 429 and network trouble are the site's failure (`FetchUnavailable`), thrown
 * for Temporal to retry, each attempt counted on the breaker.
 */
import type { ActivityDeps } from '../deps.ts';
import { FAILURE_TYPES, nonRetryable } from '../errors.ts';
import { writeFile } from './files.ts';
import { outsideFailure } from './outside.ts';
import type { Workspace, WriteOptions } from './files.ts';
import { EgressRefused, guardedGet } from '../../infra/egress.ts';
import type { PlanStep, StepResult } from '../../shared/run.ts';

type FetchStep = Extract<PlanStep, { tool: 'fetch_url' }>;

/** Characters of a fetched text shown in the log when it is not saved. */
const LOG_CHARS = 16_000;

export interface FetchOutcome { result: StepResult; text?: { text: string; bytes: number; url: string } }

export async function fetchUrl(deps: ActivityDeps, ws: Workspace, index: number, step: FetchStep, write: WriteOptions, signal?: AbortSignal): Promise<FetchOutcome> {
  let got;
  try {
    got = await guardedGet(step.url, deps.tools.fetch, signal);
  } catch (err) {
    if (err instanceof EgressRefused) throw nonRetryable(FAILURE_TYPES.fetchRefused, err.message, { url: step.url, reason: err.reason });
    if (signal?.aborted) throw err;
    throw outsideFailure(FAILURE_TYPES.fetchUnavailable, `GET ${step.url.slice(0, 200)} failed: ${(err as Error).message}`);
  }
  const base = { index, tool: step.tool, durationMs: 0 };
  const via = got.redirects.length ? ` (after ${got.redirects.length} redirect(s))` : '';
  if (got.status >= 500 || got.status === 429) throw outsideFailure(FAILURE_TYPES.fetchUnavailable, `GET ${got.finalUrl} answered ${got.status}`);
  if (got.status >= 400) return { result: { ...base, ok: false, summary: `GET ${got.finalUrl} answered ${got.status}${via}` } };
  if (step.path) {
    const w = await writeFile(deps, ws, step.path, got.body, write);
    return { result: { ...base, ok: true, summary: `fetched ${got.body.length} bytes (${got.contentType}) from ${got.finalUrl}${via} into ${step.path} (${w.bytes} bytes)` } };
  }
  const textual = got.contentType.startsWith('text/') || /json|xml/.test(got.contentType);
  const summary = `fetched ${got.body.length} bytes (${got.contentType}) from ${got.finalUrl}${via}`;
  if (!textual) return { result: { ...base, ok: true, summary: `${summary}; not text: name a workspace path to keep it` } };
  return { result: { ...base, ok: true, summary }, text: { text: got.body.toString('utf8').slice(0, LOG_CHARS), bytes: got.body.length, url: got.finalUrl } };
}
