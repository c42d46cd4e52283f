/**
 * The executor of SANDBOX=local and SANDBOX=unsafe-host: the three phases run in
 * the worker, the command in a scratch directory removed afterwards — inside a
 * bubblewrap jail (`local`), or as a plain child process that can see the
 * worker's files, services and secrets (`unsafe-host`, an explicit opt-in for
 * machines without user namespaces). Either way it offers the browser tool's Chromium,
 * in the same posture, when BROWSER_PATH exists.
 */
import { executeInWorkspace, type ExecuteOptions } from './execute.ts';
import { browserInstalled, ChromiumHost } from './browser.ts';
import type { BrowserHost } from './browser.ts';
import type { Jail } from './jail.ts';
import type { Executor, SandboxContext, SandboxRequest, SandboxResult, SandboxWorkspace } from './types.ts';

export class LocalExecutor implements Executor {
  readonly kind: 'local' | 'unsafe-host';
  readonly browser?: BrowserHost;
  readonly browserAbsent?: string;
  /** The jail of SANDBOX=local (undefined: unsafe-host); MCP connectors run in it too. */
  readonly jail: Jail | undefined;
  private readonly workspace: SandboxWorkspace;
  private readonly opts: ExecuteOptions;
  /** `jail` undefined means SANDBOX=unsafe-host. */
  constructor(workspace: SandboxWorkspace, opts: Omit<ExecuteOptions, 'jail'>, jail: Jail | undefined, browserPath: string) {
    this.workspace = workspace;
    this.opts = { ...opts, jail };
    this.jail = jail;
    this.kind = jail ? 'local' : 'unsafe-host';
    // Chromium runs in the same posture as the steps: jailed under SANDBOX=local.
    if (browserInstalled(browserPath)) this.browser = new ChromiumHost(browserPath, jail);
    else this.browserAbsent = `the worker has no Chromium at BROWSER_PATH (${browserPath}): install Debian's chromium package`;
  }

  run(req: SandboxRequest, ctx: SandboxContext): Promise<SandboxResult> {
    return executeInWorkspace(this.workspace, req, ctx, this.opts);
  }
}
