/**
 * The browser tool on SANDBOX=kubernetes: each page is a Job of its own, run by the
 * runner in K8S_BROWSER_IMAGE (a runner image with Chromium), labelled for the tools'
 * web-egress NetworkPolicy. The runner opens the page behind its own egress proxy
 * (../browse-exec.ts), saves the files into the workspace and reports on stdout.
 */
import { REPORT_MARK } from '../browse.ts';
import type { BrowseRequest, BrowseResult, BrowserHost } from '../browser.ts';
import { reportOf } from '../types.ts';
import type { Executor } from '../types.ts';

/** Time a browser Job may take beyond the page's load cap: scheduling, pull, Chromium's start, push. */
const JOB_OVERHEAD_MS = 120_000;
/** Bytes of stdout kept: the report carries up to 16,000 characters of text. */
const REPORT_MAX_BYTES = 1 << 20;

export class PodBrowserHost implements BrowserHost {
  readonly posture = 'pod' as const;
  private readonly executor: Executor;
  private readonly image: string;
  private readonly chromium: string;

  constructor(executor: Executor, image: string, chromium: string) {
    this.executor = executor;
    this.image = image;
    this.chromium = chromium;
  }

  async browse(req: BrowseRequest, signal: AbortSignal): Promise<BrowseResult> {
    const r = await this.executor.run({
      runId: req.step.runId, userId: req.step.userId, index: req.step.index, workspacePrefix: req.step.workspacePrefix, image: this.image,
      command: { browser: { page: req.page, files: req.files, egress: req.egress, maxPageBytes: req.maxPageBytes, chromium: this.chromium } },
      limits: { timeoutMs: req.page.timeoutMs + JOB_OVERHEAD_MS, outputMaxBytes: REPORT_MAX_BYTES },
    }, { signal });
    const got = reportOf<BrowseResult>(r, REPORT_MARK);
    // No report: the pod could not open a browser (or died); worth another attempt.
    if ('missing' in got) throw new Error(`the browser Job ended without a page report (${got.missing})`);
    return got.report;
  }
}
