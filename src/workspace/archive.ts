/**
 * The full log of a finished run, archived to S3 as JSON lines, so a client
 * can replay it after Redis has trimmed or expired the stream.
 */
import type { EventLog, StoredEvent } from '../infra/event-log.ts';
import { s3Keys } from '../shared/names.ts';
import { compareStreamIds } from '../shared/stream-id.ts';
import type { ObjectStore } from './objects.ts';

const PAGE = 2000;

/** Copies the run's whole stream to S3 (idempotent: a later call rewrites it with at least as much). */
export async function archiveEvents(objects: ObjectStore, events: Pick<EventLog, 'readAfter'>, userId: string, runId: string): Promise<number> {
  const lines: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await events.readAfter(runId, cursor, PAGE);
    for (const e of page) lines.push(JSON.stringify(e));
    if (page.length < PAGE) break;
    cursor = page.at(-1)!.id;
  }
  if (lines.length === 0) return 0;
  await objects.put(s3Keys.eventArchive(userId, runId), `${lines.join('\n')}\n`, { contentType: 'application/x-ndjson' });
  return lines.length;
}

/** Archived events strictly after `afterId`; undefined when the run has no archive (yet). */
export async function readArchive(objects: ObjectStore, userId: string, runId: string, afterId: string | undefined): Promise<StoredEvent[] | undefined> {
  const text = await objects.getText(s3Keys.eventArchive(userId, runId));
  if (text === undefined) return undefined;
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as StoredEvent)
    .filter((e) => afterId === undefined || compareStreamIds(e.id, afterId) > 0);
}
