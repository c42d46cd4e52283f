/**
 * What the web page's Chromium tests (test/e2e/web*.test.ts) share: Debian's `chromium`
 * driven by playwright-core, a worker and an API of their own, a user signed in through the
 * page's form, a screenshot per scenario under .data/test-artifacts/, and a watch for
 * Content-Security-Policy violations on every page of the API's origin the tests open.
 *
 * Without Chromium the files skip, except under CI (CI set and not `false`/`0`), where they
 * fail: test/run.ts counts a skip as a pass, and a CI run must not drop the page unseen.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { freeLoopbackPort } from '../../src/infra/free-port.ts';
import { mintToken } from './auth.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue } from './stack.ts';
import type { Clients, Proc } from './stack.ts';

export const ARTIFACTS = fileURLToPath(new URL('../../.data/test-artifacts/', import.meta.url));
export const CHROMIUM = process.env.AGENTRUN_CHROMIUM ?? '/usr/bin/chromium';
const ON_CI = !!process.env.CI && !['false', '0'].includes(process.env.CI);

/** A shell step printing `word-1` … `word-n`, one every 50 ms. */
export const LOOP = (n: number, word: string) => `shell sh -c "i=1; while [ $i -le ${n} ]; do echo ${word}-$i; i=$((i+1)); sleep 0.05; done"`;

/** The describe's `skip`: a reason without Chromium, none with it, and none under CI (before() then fails). */
export const browserSkip = (): string | false =>
  (existsSync(CHROMIUM) || ON_CI ? false : `no Chromium at ${CHROMIUM}: ./dev install installs Debian's chromium`);

/** A stack for the page: a worker and an API on a queue of their own, a user with credits, Chromium. */
export class WebHarness {
  c!: Clients;
  worker?: Proc;
  api?: Proc & { url: string };
  env!: Record<string, string>;
  browser!: Browser;
  user!: string;
  token!: string;
  /** Every URL the pages asked for (the token must be in none). */
  readonly requests: string[] = [];
  /** CSP violations reported on pages of the API's origin, with the page's address. */
  readonly violations: string[] = [];

  /** Starts it all; `extraEnv` goes to the worker and the API. Fails at once under CI when Chromium is missing. */
  async start(name: string, credits: number, extraEnv: Record<string, string> = {}): Promise<void> {
    if (!existsSync(CHROMIUM)) assert.fail(`no Chromium at ${CHROMIUM} and CI is set: the web page must be tested (./dev install installs Debian's chromium)`);
    mkdirSync(ARTIFACTS, { recursive: true });
    this.c = await connectClients();
    this.user = await newUser(this.c, credits, name);
    this.env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue(name), SSE_HEARTBEAT_MS: '300', API_PORT: String(await freeLoopbackPort()), ...extraEnv };
    [this.worker, this.api] = await Promise.all([startWorker(this.env), startApi(this.env)]);
    this.token = await mintToken(this.user);
    this.browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }

  async close(): Promise<void> {
    await this.browser?.close();
    await Promise.all([stop(this.api), stop(this.worker)]);
    await this.c?.close();
  }

  /** A new tab whose requests are recorded and whose CSP violations are collected. */
  async newPage(options: Parameters<Browser['newPage']>[0] = {}): Promise<Page> {
    const page = await this.browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true, ...options });
    page.on('request', (r) => this.requests.push(r.url()));
    page.on('console', (m) => {
      if (/Content.Security.Policy/i.test(m.text())) this.violations.push(`${page.url()}: ${m.text()}`);
    });
    return page;
  }

  /** A signed-in tab on the runs page: the token typed into the sign-in form, as a person would. */
  async signedIn(): Promise<Page> {
    const page = await this.newPage();
    await page.goto(`${this.api!.url}/`);
    await page.fill('#token', this.token);
    await page.click('#sign-in button[type=submit]');
    await page.waitForSelector('#start-form');
    return page;
  }

  /** Closes the tab, then fails on any CSP violation seen so far. */
  async done(page: Page): Promise<void> {
    await page.close();
    assert.deepEqual(this.violations, [], 'no Content-Security-Policy violation on any page');
  }
}

export const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `web-${name}.png`), fullPage: true });

/** Fills the start form (prompt, and optionally approval) and submits it; the new run's id. */
export async function startFromForm(page: Page, prompt: string, approval = false): Promise<string> {
  await page.fill('#prompt', prompt);
  if (approval) await page.check('#require-approval');
  await page.click('#start');
  await page.waitForURL(/#\/runs\/run_\w+$/);
  return /#\/runs\/(run_\w+)$/.exec(page.url())![1]!;
}

export const runStatus = (page: Page, status: string, timeout = 60_000) => page.waitForSelector(`#run-status [data-status="${status}"]`, { timeout });

/** The whole log as the page's Download log button saves it. */
export async function logText(page: Page): Promise<string> {
  const download = page.waitForEvent('download');
  await page.click('#download-log');
  return readFileSync(await (await download).path(), 'utf8');
}
