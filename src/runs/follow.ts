/**
 * What an event stream of a run asks of it besides the live log: has the run closed (asked
 * by idle streams on every heartbeat, so the answer is shared), and its archived events.
 */
import type { Client } from '@temporalio/client';
import { describeRun, closedStatus } from './workflow.ts';
import type { WorkspaceStore } from '../workspace/index.ts';
import type { StoredEvent } from '../infra/event-log.ts';
import type { RunStatus } from '../shared/run.ts';

/** How long one answer of isClosed serves every stream of the run. */
const CLOSED_CHECK_REUSE_MS = 1000;
/** Above this many cached answers, the stale ones are dropped. */
const CLOSED_CHECK_MAX_ENTRIES = 10_000;

export interface ClosedAnswer { closed: boolean; status?: RunStatus }

/** One describe per run per second however many streams follow it. */
export class ClosedCache {
  private readonly temporal: Client;
  private readonly answers = new Map<string, { at: number; answer: Promise<ClosedAnswer> }>();
  constructor(temporal: Client) {
    this.temporal = temporal;
  }

  /** Has the run's workflow closed (completed, failed, cancelled, terminated)? */
  isClosed(id: string): Promise<ClosedAnswer> {
    const now = Date.now();
    const hit = this.answers.get(id);
    if (hit && now - hit.at < CLOSED_CHECK_REUSE_MS) return hit.answer;
    const answer = describeRun(this.temporal, id).then((d) => {
      const status = closedStatus(d.status.name);
      return { closed: status !== undefined, status };
    });
    answer.catch(() => this.answers.delete(id));
    this.answers.set(id, { at: now, answer });
    if (this.answers.size > CLOSED_CHECK_MAX_ENTRIES) {
      for (const [k, v] of this.answers) if (now - v.at >= CLOSED_CHECK_REUSE_MS) this.answers.delete(k);
    }
    return answer;
  }
}

/** The archived event log (S3) after an id of run `id` of `userId` (ownership already checked), or undefined when it has none (yet). */
export async function archivedEvents(deps: { workspace: WorkspaceStore }, userId: string, id: string, afterId: string | undefined): Promise<StoredEvent[] | undefined> {
  return deps.workspace.readArchive(userId, id, afterId);
}
