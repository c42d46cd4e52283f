/**
 * The full log of a finished run, archived to S3 as JSON lines, so a client
 * can replay it after Redis has trimmed or expired the stream.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { s3Keys } from '../shared/names.ts';
import { compareStreamIds } from '../shared/stream-id.ts';
import type { EventLog, StoredEvent } from './event-log.ts';
import { isNotFound } from './s3.ts';

const PAGE = 2000;

/** Copies the run's whole stream to S3 (idempotent: a later call rewrites it with at least as much). */
export async function archiveEvents(events: EventLog, s3: S3Client, bucket: string, userId: string, runId: string): Promise<number> {
  const lines: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await events.readAfter(runId, cursor, PAGE);
    for (const e of page) lines.push(JSON.stringify(e));
    if (page.length < PAGE) break;
    cursor = page.at(-1)!.id;
  }
  if (lines.length === 0) return 0;
  await s3.send(new PutObjectCommand({
    Bucket: bucket, Key: s3Keys.eventArchive(userId, runId), Body: `${lines.join('\n')}\n`, ContentType: 'application/x-ndjson',
  }));
  return lines.length;
}

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
