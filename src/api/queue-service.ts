/**
 * Operator actions on the queue facade: the dead-letter view and its retry.
 * A retry moves the entry jobs:failed → jobs:retry → jobs:pending, each step one
 * script that acts only when the entry is still where it was: concurrent retries
 * of one entry start one run, and a crash in between leaves the entry in
 * jobs:retry, which the ingress consumer finishes.
 */
import type { Logger } from 'pino';
import { recordControl } from './audit.ts';
import type { Actor } from './audit.ts';
import { HttpError, notFound, UnavailableError } from './errors.ts';
import { newRunId } from './ids.ts';
import type { QueueFacade } from '../infra/queue.ts';
import type { FailedEntry, RetryEntry } from '../shared/queue.ts';
import type { Store } from '../store/types.ts';

export interface RetryOutcome {
  id: string;
  status: 'requeued';
  /** The run that will be started: a new run repeating a failed one, or the ingress entry's own run. */
  runId?: string;
  retryOf?: string;
}

/** jobs:retry → jobs:pending for one entry, creating the retried run's record first (idempotent). */
export async function promoteRetry(queue: QueueFacade, store: Pick<Store, 'createRun'>, entry: RetryEntry, member: string): Promise<boolean> {
  if (entry.record) {
    const r = entry.record;
    await store.createRun({ id: r.id, userId: r.userId, prompt: r.prompt, priority: r.priority, status: 'created' });
  }
  return queue.requeue(member, entry.job);
}

export class QueueService {
  private readonly queue: QueueFacade;
  private readonly store: Store;
  private readonly log: Logger;
  constructor(deps: { queue: QueueFacade; store: Store; log: Logger }) {
    this.queue = deps.queue;
    this.store = deps.store;
    this.log = deps.log;
  }

  async stats() {
    try {
      return await this.queue.stats();
    } catch (err) {
      throw new UnavailableError('Redis', err);
    }
  }

  async failed(limit: number): Promise<FailedEntry[]> {
    try {
      return (await this.queue.listFailed(limit)).map((f) => f.entry);
    } catch (err) {
      throw new UnavailableError('Redis', err);
    }
  }

  /**
   * Starts a dead-lettered entry again. A failed run is repeated as a new run (same
   * user, prompt and priority, working in the failed run's workspace; `retry_of` names
   * it): its credits, events and step records stay the failed run's. An ingress entry
   * that named no usable run goes back onto jobs:pending verbatim. A retried run's
   * retry is audited on it, with the operator as actor.
   */
  async retry(id: string, actor: Actor): Promise<RetryOutcome> {
    let found: { entry: FailedEntry; member: string } | undefined;
    try {
      found = (await this.queue.listFailed(100_000)).find((f) => f.entry.id === id);
    } catch (err) {
      throw new UnavailableError('Redis', err);
    }
    if (!found) throw notFound(`dead-lettered entry ${id}`);
    const { entry, member } = found;
    const now = new Date().toISOString();
    const retryCount = (entry.retry_count ?? 0) + 1;
    let retry: RetryEntry;
    let outcome: RetryOutcome;
    const record = entry.source === 'run' && entry.run_id
      ? await this.store.getRun(entry.run_id).catch((err: unknown) => { throw new UnavailableError('the database', err); })
      : undefined;
    if (record) {
      const runId = newRunId();
      const priority = record.priority >= 1 && record.priority <= 5 ? record.priority : 3;
      retry = {
        id: entry.id, kind: 'requeue', retry_at: now, retry_count: retryCount, reason: entry.reason,
        job: JSON.stringify({ run_id: runId, enqueued_at: now, priority, retry_count: retryCount, retry_of: record.id }),
        record: { id: runId, userId: record.user_id, prompt: record.prompt, priority },
      };
      outcome = { id, status: 'requeued', runId, retryOf: record.id };
    } else {
      const job = entry.job ?? JSON.stringify({ run_id: entry.run_id, enqueued_at: now, retry_count: retryCount });
      retry = { id: entry.id, kind: 'requeue', retry_at: now, retry_count: retryCount, reason: entry.reason, job };
      outcome = { id, status: 'requeued', runId: entry.run_id ?? undefined };
    }
    const retryMember = JSON.stringify(retry);
    let claimed: boolean;
    try {
      claimed = await this.queue.claimForRetry(member, retry, entry.run_id ?? undefined);
    } catch (err) {
      throw new UnavailableError('Redis', err);
    }
    if (!claimed) throw new HttpError(409, 'already_retried', `dead-lettered entry ${id} is being retried already`);
    if (record) {
      await recordControl({ store: this.store, log: this.log }, record.id, record.user_id, actor, 'retry', { runId: outcome.runId, entry: id })
        .catch((err: unknown) => this.log.error({ err, id, actor: actor.id }, 'could not audit a queue retry'));
    }
    try {
      await promoteRetry(this.queue, this.store, retry, retryMember);
    } catch (err) {
      // The entry waits in jobs:retry; the ingress consumer promotes it when the outage ends.
      this.log.warn({ err, id }, 'retry parked in jobs:retry');
    }
    this.log.info({ id, runId: outcome.runId, retryOf: outcome.retryOf }, 'dead-lettered entry retried');
    return outcome;
  }
}
