/**
 * browser: opens a page in a fresh headless Chromium of the executor's posture
 * (src/sandbox/browser.ts), every request of it through the egress guard; waits for
 * `load` up to BROWSER_TIMEOUT_MS (a slower page is shown as far as it got); logs the
 * title and final URL; saves a PNG of the viewport and/or the page's text into the
 * workspace. The page is untrusted: what it says (title, text) is capped and goes to the
 * log and workspace as data; downloads, service workers and dialogs are refused. A page
 * whose navigation the guard refuses (a private address, a redirect to one) fails the
 * step for good with the rule; subresources the guard refused are listed, not fatal.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Page, Request } from 'playwright-core';
import type { ActivityDeps } from '../deps.ts';
import { FAILURE_TYPES, nonRetryable } from '../errors.ts';
import { writeFile } from './files.ts';
import type { Workspace, WriteOptions } from './files.ts';
import { checkTarget, EgressRefused } from '../../infra/egress.ts';
import { REFUSED_HEADER } from '../../infra/egress-proxy.ts';
import type { ProxyRecord } from '../../infra/egress-proxy.ts';
import type { PlanStep, StepResult } from '../../shared/run.ts';

type BrowserStep = Extract<PlanStep, { tool: 'browser' }>;

export const VIEWPORT = { width: 1280, height: 720 } as const;
/** Characters of the page's text shown on the log (the saved file holds up to TEXT_MAX_CHARS). */
const LOG_CHARS = 16_000;
const TEXT_MAX_CHARS = 1_000_000;
const LAUNCH_TIMEOUT_MS = 30_000;
/** Refused requests named on the log. */
const LOG_REFUSED = 20;

export const textPath = (index: number) => `browser/${String(index).padStart(3, '0')}.txt`;

export interface BrowseOutcome {
  result: StepResult;
  /** What goes on the log: title, final URL, the refused requests, a preview of the text. */
  page: { title: string; url: string; status?: number; loaded: boolean; refused: { url: string; reason: string }[]; text?: string; textBytes?: number };
}

/** The refusals that were the page's own requests (Chromium makes a few of its own, which are refused too but not the page's business). */
function pageRefusals(egress: ProxyRecord, requested: Set<string>): { url: string; reason: string }[] {
  return egress.refused.filter((r) => requested.has(r.url) || requested.has(r.url.replace(/^https:\/\/([^/]+)$/, '$1')));
}

/** The keys under which the proxy records a page request: its URL (http) or host:port (a CONNECT tunnel). */
function requestKeys(req: Request): string[] {
  try {
    const u = new URL(req.url());
    const port = u.port || (u.protocol === 'https:' || u.protocol === 'wss:' ? '443' : '80');
    return [req.url(), `${u.hostname}:${port}`];
  } catch {
    return [req.url()];
  }
}

export async function browse(deps: ActivityDeps, ws: Workspace, index: number, step: BrowserStep, write: WriteOptions, signal: AbortSignal, beat: () => void): Promise<BrowseOutcome> {
  const host = deps.sandbox.browser;
  if (!host) throw nonRetryable(FAILURE_TYPES.toolUnavailable, `browser is not available here: ${deps.sandbox.browserAbsent ?? 'no browser'}`);
  const cfg = deps.tools.browser;
  // The first URL is checked before a browser starts: a plainly refused one costs nothing.
  try {
    await checkTarget(step.url, deps.tools.fetch);
  } catch (err) {
    if (err instanceof EgressRefused) throw nonRetryable(FAILURE_TYPES.fetchRefused, err.message, { url: step.url, reason: err.reason });
    throw err;
  }
  const beating = setInterval(beat, 1000);
  const session = await host.open({ launchTimeoutMs: LAUNCH_TIMEOUT_MS, egress: deps.tools.fetch, maxPageBytes: cfg.pageMaxBytes });
  const onAbort = () => void session.close();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const context = await session.browser.newContext({
      viewport: VIEWPORT, serviceWorkers: 'block', acceptDownloads: false, ignoreHTTPSErrors: false,
    });
    const requested = new Set<string>();
    context.on('request', (r) => { for (const k of requestKeys(r)) requested.add(k); });
    context.on('page', (p: Page) => { p.on('dialog', (d) => void d.dismiss().catch(() => undefined)); });
    const page = await context.newPage();
    page.on('dialog', (d) => void d.dismiss().catch(() => undefined));
    let status: number | undefined;
    let loaded = true;
    try {
      const response = await page.goto(step.url, { waitUntil: 'load', timeout: cfg.timeoutMs });
      status = response?.status();
      // The page (after its redirects) is the proxy's own refusal: the navigation was refused.
      const refusal = response?.headers()[REFUSED_HEADER];
      if (refusal) throw nonRetryable(FAILURE_TYPES.fetchRefused, `browser: ${page.url().slice(0, 200)} refused: ${refusal}`, { url: step.url });
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      if (page.url() === 'about:blank') {
        // Nothing was shown: the navigation (or a redirect of it) was refused, or the network failed.
        const refused = pageRefusals(session.egress, requested);
        const last = refused.at(-1);
        if (last) throw nonRetryable(FAILURE_TYPES.fetchRefused, `browser: ${last.url.slice(0, 200)} refused: ${last.reason}`, { url: step.url, refused: refused.slice(0, LOG_REFUSED) });
        if (!/timeout/i.test((err as Error).message)) throw err; // Temporal retries
      }
      loaded = false;
    }
    const title = (await page.title().catch(() => '')).slice(0, 500);
    const finalUrl = page.url();
    const refused = pageRefusals(session.egress, requested);
    const saved: string[] = [];
    if (step.screenshot) {
      const png = await page.screenshot({ type: 'png', timeout: cfg.timeoutMs });
      const w = await writeFile(deps, ws, step.screenshot, png, write);
      saved.push(`a ${VIEWPORT.width}×${VIEWPORT.height} screenshot in ${step.screenshot} (${w.bytes} bytes)`);
    }
    let text: string | undefined;
    let textBytes: number | undefined;
    if (step.text) {
      text = String(await page.evaluate(() => document.body?.innerText ?? '').catch(() => '')).slice(0, TEXT_MAX_CHARS);
      const path = typeof step.text === 'string' ? step.text : textPath(index);
      const w = await writeFile(deps, ws, path, Buffer.from(text, 'utf8'), write);
      textBytes = w.bytes;
      saved.push(`its text in ${path} (${w.bytes} bytes)`);
    }
    const blocked = refused.length > 0 ? `; ${refused.length} request(s) refused by the egress guard` : '';
    const partly = loaded ? '' : ` (still loading after ${cfg.timeoutMs} ms)`;
    const summary = `opened ${finalUrl}${status ? ` (${status})` : ''}${partly}: ${JSON.stringify(title.slice(0, 120))}${saved.length ? `; saved ${saved.join(' and ')}` : ''}${blocked}`;
    const ok = status === undefined || status < 400;
    return {
      result: { index, tool: step.tool, ok, summary: ok ? summary : `${summary}; the page answered ${status}`, durationMs: 0 },
      page: { title, url: finalUrl, status, loaded, refused: refused.slice(0, LOG_REFUSED), text: text?.slice(0, LOG_CHARS), textBytes },
    };
  } finally {
    clearInterval(beating);
    signal.removeEventListener('abort', onAbort);
    await session.close();
  }
}
