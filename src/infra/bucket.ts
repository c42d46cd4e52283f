/**
 * The workspace bucket as agentrun needs it: present, keeping versions (each step's
 * manifest names file versions, and a fork copies them; src/workspace/versions.ts), and
 * letting versions that are no longer current expire after WORKSPACE_VERSION_DAYS so
 * overwritten and deleted files do not pile up. Used by ./dev's MinIO and compose's one-shot.
 */
import {
  CreateBucketCommand, HeadBucketCommand, PutBucketLifecycleConfigurationCommand, PutBucketVersioningCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';

/** How long a file version that is no longer current stays forkable. */
export const WORKSPACE_VERSION_DAYS = 30;

/** Creates `bucket` unless present; turns versioning on and sets the expiry of old versions (both idempotent). */
export async function prepareWorkspaceBucket(s3: S3Client, bucket: string): Promise<'created' | 'present'> {
  const created = await s3.send(new HeadBucketCommand({ Bucket: bucket })).then(() => false, async () => {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    return true;
  });
  await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  await s3.send(new PutBucketLifecycleConfigurationCommand({
    Bucket: bucket,
    LifecycleConfiguration: {
      Rules: [{
        ID: 'agentrun-old-versions', Status: 'Enabled', Filter: { Prefix: '' },
        NoncurrentVersionExpiration: { NoncurrentDays: WORKSPACE_VERSION_DAYS },
        Expiration: { ExpiredObjectDeleteMarker: true },
      }],
    },
  }));
  return created ? 'created' : 'present';
}
