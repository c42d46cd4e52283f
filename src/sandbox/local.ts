/** The laptop executor: each execution is a child process of the worker in a scratch directory. */
import type { S3Client } from '@aws-sdk/client-s3';
import { executeInWorkspace, type ExecuteOptions } from './execute.ts';
import type { Executor, SandboxContext, SandboxRequest, SandboxResult } from './types.ts';

export class LocalExecutor implements Executor {
  readonly kind = 'local' as const;
  private readonly s3: S3Client;
  private readonly bucket: string;
  private readonly opts: ExecuteOptions;
  constructor(s3: S3Client, bucket: string, opts: ExecuteOptions) {
    this.s3 = s3;
    this.bucket = bucket;
    this.opts = opts;
  }

  run(req: SandboxRequest, ctx: SandboxContext): Promise<SandboxResult> {
    return executeInWorkspace({ s3: this.s3, bucket: this.bucket, prefix: req.workspacePrefix }, req, ctx, this.opts);
  }
}
