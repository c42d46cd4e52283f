/**
 * The executor of SANDBOX=local and SANDBOX=unsafe-host: the three phases run in
 * the worker, the command in a scratch directory removed afterwards — inside a
 * bubblewrap jail (`local`), or as a plain child process that can see the
 * worker's files, services and secrets (`unsafe-host`, an explicit opt-in for
 * machines without user namespaces).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { executeInWorkspace, type ExecuteOptions } from './execute.ts';
import type { Jail } from './jail.ts';
import type { Executor, SandboxContext, SandboxRequest, SandboxResult } from './types.ts';

export class LocalExecutor implements Executor {
  readonly kind: 'local' | 'unsafe-host';
  private readonly s3: S3Client;
  private readonly bucket: string;
  private readonly opts: ExecuteOptions;
  /** `jail` undefined means SANDBOX=unsafe-host. */
  constructor(s3: S3Client, bucket: string, opts: Omit<ExecuteOptions, 'jail'>, jail: Jail | undefined) {
    this.s3 = s3;
    this.bucket = bucket;
    this.opts = { ...opts, jail };
    this.kind = jail ? 'local' : 'unsafe-host';
  }

  run(req: SandboxRequest, ctx: SandboxContext): Promise<SandboxResult> {
    return executeInWorkspace({ s3: this.s3, bucket: this.bucket, prefix: req.workspacePrefix }, req, ctx, this.opts);
  }
}
