/**
 * web_search: a query to Brave Search (src/infra/brave-search.ts); the results (title, url,
 * snippet) go to the log and to search/NNN.json in the workspace (NNN: the step's index).
 * Without BRAVE_API_KEY the tool is not offered to the planner, and a plan naming it fails
 * here with the reason. A refused query (401, 422) fails the step for good; a 429 or 5xx
 * is retried by Temporal, after Retry-After when Brave gives one.
 */
import type { ActivityDeps } from '../deps.ts';
import { FAILURE_TYPES, nonRetryable } from '../errors.ts';
import { writeFile } from './files.ts';
import { outsideFailure } from './outside.ts';
import type { Workspace, WriteOptions } from './files.ts';
import { braveSearch, SearchRejected, SearchUnavailable } from '../../infra/brave-search.ts';
import type { SearchResult } from '../../infra/brave-search.ts';
import type { PlanStep, StepResult } from '../../shared/run.ts';

type SearchStep = Extract<PlanStep, { tool: 'web_search' }>;

export const resultsPath = (index: number) => `search/${String(index).padStart(3, '0')}.json`;

export async function webSearch(deps: ActivityDeps, ws: Workspace, index: number, step: SearchStep, write: WriteOptions, signal?: AbortSignal): Promise<{ result: StepResult; results: SearchResult[] }> {
  const cfg = deps.tools.search;
  if (!cfg) throw nonRetryable(FAILURE_TYPES.toolUnavailable, 'web_search is not available here: the worker has no BRAVE_API_KEY');
  let results: SearchResult[];
  try {
    results = await braveSearch(cfg, step.query, step.count ?? 10, signal);
  } catch (err) {
    if (err instanceof SearchRejected) throw nonRetryable(FAILURE_TYPES.searchRejected, err.message, { status: err.status });
    if (err instanceof SearchUnavailable) throw outsideFailure(FAILURE_TYPES.searchUnavailable, err.message, { nextRetryDelayMs: err.retryAfterMs });
    throw err;
  }
  const path = resultsPath(index);
  await writeFile(deps, ws, path, Buffer.from(`${JSON.stringify({ query: step.query, results }, null, 2)}\n`), write);
  return { result: { index, tool: step.tool, ok: true, summary: `${results.length} result(s) for ${JSON.stringify(step.query.slice(0, 100))}, saved to ${path}`, durationMs: 0 }, results };
}
