/**
 * browser: opens a page in a fresh headless Chromium of the executor's posture (jailed
 * in the worker, or a Kubernetes Job's pod: src/sandbox/browser.ts), every request of it
 * through the egress guard; logs the title and final URL; saves a PNG of the viewport
 * and/or the page's text into the workspace. What the page says is untrusted: capped, and
 * kept as data. A page whose navigation the guard refused (a private address, a redirect
 * to one) fails the step for good with the rule; subresources the guard refused are
 * listed, not fatal. The URL named directly is checked before any browser starts. A
 * refusal is the model's input, not an outage: it is not held against the tool's breaker;
 * a page whose site could not be reached (`net::ERR_…`) is (`PageUnavailable`, retried).
 */
import type { ActivityDeps } from '../deps.ts';
import { FAILURE_TYPES, nonRetryable } from '../errors.ts';
import { writeFile } from './files.ts';
import { isPageNetworkError, outsideFailure } from './outside.ts';
import type { Workspace, WriteOptions } from './files.ts';
import { checkTarget, EgressRefused } from '../../infra/egress.ts';
import { VIEWPORT } from '../../sandbox/browse.ts';
import { s3Keys } from '../../shared/names.ts';
import type { PlanStep, StepResult } from '../../shared/run.ts';

type BrowserStep = Extract<PlanStep, { tool: 'browser' }>;

/** Characters of the page's text shown on the log (the saved file holds it all). */
const LOG_CHARS = 16_000;

export const textPath = (index: number) => `browser/${String(index).padStart(3, '0')}.txt`;

export interface BrowseOutcome {
  result: StepResult;
  /** What goes on the log: title, final URL, the refused requests, a preview of the text. */
  page: { title: string; url: string; status?: number; loaded: boolean; refused: { url: string; reason: string }[]; text?: string; textBytes?: number };
}

export async function browse(deps: ActivityDeps, ws: Workspace, index: number, step: BrowserStep, write: WriteOptions, signal: AbortSignal): Promise<BrowseOutcome> {
  const host = deps.sandbox.browser;
  if (!host) throw nonRetryable(FAILURE_TYPES.toolUnavailable, `browser is not available here: ${deps.sandbox.browserAbsent ?? 'no browser'}`);
  const cfg = deps.tools.browser;
  try {
    await checkTarget(step.url, deps.tools.fetch);
  } catch (err) {
    if (err instanceof EgressRefused) throw nonRetryable(FAILURE_TYPES.fetchRefused, err.message, { url: step.url, reason: err.reason });
    throw err;
  }
  const files = { screenshot: step.screenshot, text: step.text ? (typeof step.text === 'string' ? step.text : textPath(index)) : undefined };
  let r;
  try {
    r = await host.browse({
      page: { url: step.url, screenshot: step.screenshot !== undefined, text: files.text !== undefined, timeoutMs: cfg.timeoutMs },
      egress: deps.tools.fetch, maxPageBytes: cfg.pageMaxBytes, files,
      step: { runId: ws.runId, userId: ws.userId, index, workspacePrefix: s3Keys.workspaceFiles(ws.userId, ws.workspaceId) },
    }, signal);
  } catch (err) {
    // Anything else (the browser would not start, its jail or pod failed) is ours, retried uncounted.
    if (signal.aborted || !isPageNetworkError(err)) throw err;
    throw outsideFailure(FAILURE_TYPES.pageUnavailable, `browser: ${step.url.slice(0, 200)} could not be loaded: ${(err as Error).message.split('\n')[0]!.slice(0, 300)}`);
  }
  if (r.refusedNavigation) throw nonRetryable(FAILURE_TYPES.fetchRefused, `browser: ${r.refusedNavigation}`, { url: step.url });
  // A pod saved its files itself; here the worker saves what the page gave.
  const saved = new Map((r.saved ?? []).map((f) => [f.path, f.bytes]));
  if (files.screenshot && r.png) saved.set(files.screenshot, (await writeFile(deps, ws, files.screenshot, r.png, write)).bytes);
  if (files.text && r.text !== undefined) saved.set(files.text, (await writeFile(deps, ws, files.text, Buffer.from(r.text, 'utf8'), write)).bytes);
  const said = [
    ...(files.screenshot && saved.has(files.screenshot) ? [`a ${VIEWPORT.width}×${VIEWPORT.height} screenshot in ${files.screenshot} (${saved.get(files.screenshot)} bytes)`] : []),
    ...(files.text && saved.has(files.text) ? [`its text in ${files.text} (${saved.get(files.text)} bytes)`] : []),
  ];
  const blocked = r.refused.length > 0 ? `; ${r.refused.length} request(s) refused by the egress guard` : '';
  const partly = r.loaded ? '' : ` (still loading after ${cfg.timeoutMs} ms)`;
  const summary = `opened ${r.url}${r.status ? ` (${r.status})` : ''}${partly}: ${JSON.stringify(r.title.slice(0, 120))}${said.length ? `; saved ${said.join(' and ')}` : ''}${blocked}`;
  const ok = r.status === undefined || r.status < 400;
  return {
    result: { index, tool: step.tool, ok, summary: ok ? summary : `${summary}; the page answered ${r.status}`, durationMs: 0 },
    page: { title: r.title, url: r.url, status: r.status, loaded: r.loaded, refused: r.refused, text: r.text?.slice(0, LOG_CHARS), textBytes: files.text ? saved.get(files.text) : undefined },
  };
}
