/**
 * One page in an open browser session (./browser.ts): navigate, wait for `load` up to a
 * cap, then read title, final URL, status, the page's own refused requests, a PNG of the
 * viewport and its text. Shared by the worker (SANDBOX=local, unsafe-host) and the
 * Kubernetes runner (the browser step's pod), so both report alike. Everything read from
 * the page is untrusted and capped. A navigation the egress guard refused is reported as
 * `refusedNavigation`, not thrown, so it crosses a pod's stdout as data.
 */
import type { Browser, Page, Request } from 'playwright-core';
import { REFUSED_HEADER } from '../infra/egress-proxy.ts';
import type { ProxyRecord } from '../infra/egress-proxy.ts';

/** An open browser and the record of its egress proxy (./browser.ts opens one). */
export interface PageSession {
  readonly browser: Browser;
  readonly egress: ProxyRecord;
}

export const VIEWPORT = { width: 1280, height: 720 } as const;
/** Characters of a page's text kept. */
const TEXT_MAX_CHARS = 1_000_000;
/** Refused requests reported. */
const MAX_REFUSED = 20;

export interface PageSpec {
  url: string;
  screenshot: boolean;
  text: boolean;
  /** How long the page may take to load (BROWSER_TIMEOUT_MS). */
  timeoutMs: number;
}

export interface PageReport {
  title: string;
  url: string;
  status?: number;
  /** false: still loading when the time cap came; shown as far as it got. */
  loaded: boolean;
  refused: { url: string; reason: string }[];
  /** The navigation itself (or a redirect of it) was refused: the rule it broke. Nothing else is set then. */
  refusedNavigation?: string;
  png?: Buffer;
  text?: string;
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

/** The refusals that were the page's own requests (Chromium makes a few of its own, refused too but not the page's business). */
function pageRefusals(egress: ProxyRecord, requested: Set<string>): { url: string; reason: string }[] {
  return egress.refused.filter((r) => requested.has(r.url) || requested.has(r.url.replace(/^https:\/\/([^/]+)$/, '$1')));
}

const dismissDialogs = (p: Page) => p.on('dialog', (d) => void d.dismiss().catch(() => undefined));

/** Opens `spec.url` in a fresh context of `session`. Throws only for network trouble worth retrying. */
export async function browsePage(session: PageSession, spec: PageSpec): Promise<PageReport> {
  const context = await session.browser.newContext({ viewport: VIEWPORT, serviceWorkers: 'block', acceptDownloads: false, ignoreHTTPSErrors: false });
  const requested = new Set<string>();
  context.on('request', (r) => { for (const k of requestKeys(r)) requested.add(k); });
  context.on('page', dismissDialogs);
  const page = await context.newPage();
  let status: number | undefined;
  let loaded = true;
  try {
    const response = await page.goto(spec.url, { waitUntil: 'load', timeout: spec.timeoutMs });
    status = response?.status();
    // The page (after its redirects) is the proxy's own refusal: the navigation was refused.
    const refusal = response?.headers()[REFUSED_HEADER];
    if (refusal) return { title: '', url: page.url(), loaded: false, refused: [], refusedNavigation: `${page.url().slice(0, 200)} refused: ${refusal}` };
  } catch (err) {
    if (page.url() === 'about:blank') {
      // Nothing was shown: the navigation (or a redirect of it) was refused, or the network failed.
      const last = pageRefusals(session.egress, requested).at(-1);
      if (last) return { title: '', url: spec.url, loaded: false, refused: [], refusedNavigation: `${last.url.slice(0, 200)} refused: ${last.reason}` };
      if (!/timeout/i.test((err as Error).message)) throw err;
    }
    loaded = false;
  }
  const report: PageReport = {
    title: (await page.title().catch(() => '')).slice(0, 500), url: page.url(), status, loaded,
    refused: pageRefusals(session.egress, requested).slice(0, MAX_REFUSED),
  };
  if (spec.screenshot) report.png = await page.screenshot({ type: 'png', timeout: spec.timeoutMs });
  if (spec.text) report.text = String(await page.evaluate(() => document.body?.innerText ?? '').catch(() => '')).slice(0, TEXT_MAX_CHARS);
  return report;
}

/** The prefix of a browser pod's report line on stdout (./browse-exec.ts writes it). */
export const REPORT_MARK = 'agentrun-browser-report ';
