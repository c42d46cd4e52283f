/**
 * The executor of SANDBOX=local and SANDBOX=unsafe-host: the three phases run in
 * the worker, the command in a scratch directory removed afterwards — inside a
 * bubblewrap jail (`local`), or as a plain child process that can see the
 * worker's files, services and secrets (`unsafe-host`, an explicit opt-in for
 * machines without user namespaces).
 */
import { executeInWorkspace, type ExecuteOptions } from './execute.ts';
import type { Jail } from './jail.ts';
import type { Executor, SandboxContext, SandboxRequest, SandboxResult, SandboxWorkspace } from './types.ts';

export class LocalExecutor implements Executor {
  readonly kind: 'local' | 'unsafe-host';
  private readonly workspace: SandboxWorkspace;
  private readonly opts: ExecuteOptions;
  /** `jail` undefined means SANDBOX=unsafe-host. */
  constructor(workspace: SandboxWorkspace, opts: Omit<ExecuteOptions, 'jail'>, jail: Jail | undefined) {
    this.workspace = workspace;
    this.opts = { ...opts, jail };
    this.kind = jail ? 'local' : 'unsafe-host';
  }

  run(req: SandboxRequest, ctx: SandboxContext): Promise<SandboxResult> {
    return executeInWorkspace(this.workspace, req, ctx, this.opts);
  }
}
