/**
 * TEMPORARY (issue 11): the API's reader of the archived event log, until src/api
 * (src/runs/) reads it through WorkspaceStore.readArchive (src/workspace/archive.ts
 * writes and reads the archive). Delete at the merge.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { s3Keys } from '../shared/names.ts';
import { compareStreamIds } from '../shared/stream-id.ts';
import type { StoredEvent } from './event-log.ts';
import { isNotFound } from './s3.ts';

/** Archived events strictly after `afterId`; undefined when the run has no archive (yet). */
export async function readArchive(s3: S3Client, bucket: string, userId: string, runId: string, afterId: string | undefined): Promise<StoredEvent[] | undefined> {
  let text: string;
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: s3Keys.eventArchive(userId, runId) }));
    text = await res.Body!.transformToString('utf8');
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as StoredEvent)
    .filter((e) => afterId === undefined || compareStreamIds(e.id, afterId) > 0);
}
