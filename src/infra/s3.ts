/** The S3 client, configured for AWS and S3-compatible servers (MinIO, Exoscale SOS, R2). */
import { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../shared/config.ts';

export function createS3(cfg: Config['s3']): S3Client {
  return new S3Client({
    region: cfg.region,
    endpoint: cfg.endpoint,
    forcePathStyle: cfg.forcePathStyle,
    credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
    // Newer SDKs send checksums many S3-compatible servers reject.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    // Each command class's middleware stack resolved once, not at every send (about 10% of
    // a small PUT's client CPU). Safe while no call passes per-request options or adds
    // middleware to one command: none here does, nor does lib-storage's Upload.
    cacheMiddleware: true,
  });
}

/** True when an S3 error means "no such key/bucket". */
export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.name === 'NoSuchBucket' || e?.$metadata?.httpStatusCode === 404;
}

/** True when a conditional request (If-Match / If-None-Match) was refused: the object is not in the expected state. */
export function isPreconditionFailed(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'PreconditionFailed' || e?.Code === 'PreconditionFailed' || e?.$metadata?.httpStatusCode === 412;
}
