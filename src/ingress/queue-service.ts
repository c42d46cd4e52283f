/**
 * Operator actions on the queue facade: the dead-letter view and its retry.
 * A retry moves the entry jobs:failed → jobs:retry → jobs:pending, each step one
 * script that acts only when the entry is still where it was: concurrent retries
 * of one entry start one run, and a crash in between leaves the entry in
 * jobs:retry, which the ingress consumer finishes.
 */
import type { Logger } from 'pino';
import { AlreadyRetried, DeadLetterNotFound, SigningUnavailable } from './errors.ts';
import type { QueueFacade } from '../infra/queue.ts';
import { recordControl } from '../runs/audit.ts';
import type { Actor } from '../runs/audit.ts';
import { RunNotRetryable, Unavailable } from '../runs/errors.ts';
import { newRunId } from '../runs/ids.ts';
import { DEFAULT_PRIORITY } from '../runs/model.ts';
import { signIngress } from '../shared/ingress-signature.ts';
import type { FailedEntry, RetryEntry } from '../shared/queue.ts';
import type { Store } from '../store/types.ts';

export interface RetryOutcome {
  id: string;
  status: 'requeued';
  /** The run that will be started: a new run repeating a failed one, or the ingress entry's own run. */
  runId?: string;
  retryOf?: string;
}

/** jobs:retry → jobs:pending for one entry (its job is checked like any other when the consumer takes it). */
export async function promoteRetry(queue: QueueFacade, entry: RetryEntry, member: string): Promise<boolean> {
  return queue.requeue(member, entry.job);
}

export class QueueService {
  private readonly queue: QueueFacade;
  private readonly store: Store;
  private readonly log: Logger;
  /** INGRESS_SIGNING_SECRET: signs the entry of a retried run; without it such retries are refused. */
  private readonly signingSecret: string | undefined;
  constructor(deps: { queue: QueueFacade; store: Store; log: Logger; signingSecret?: string }) {
    this.queue = deps.queue;
    this.store = deps.store;
    this.log = deps.log;
    this.signingSecret = deps.signingSecret || undefined;
  }

  async stats() {
    try {
      return await this.queue.stats();
    } catch (err) {
      throw new Unavailable('Redis', err);
    }
  }

  async failed(limit: number): Promise<FailedEntry[]> {
    try {
      return (await this.queue.listFailed(limit)).map((f) => f.entry);
    } catch (err) {
      throw new Unavailable('Redis', err);
    }
  }

  /**
   * Starts a dead-lettered entry again. A failed run is repeated as a new run (same
   * user, prompt and priority, working in the failed run's workspace; `retry_of` names
   * it): its credits, events and step records stay the failed run's. The new run's record
   * is made from the failed run's database record (never from the dead-letter entry, which
   * anyone with Redis access can write), and its queue entry is signed. An ingress entry
   * that named no usable run goes back onto jobs:pending verbatim (never re-signed: a
   * forged entry stays refused). A retried run's retry is audited on it, with the operator
   * as actor.
   */
  async retry(id: string, actor: Actor): Promise<RetryOutcome> {
    let found: { entry: FailedEntry; member: string } | undefined;
    try {
      found = (await this.queue.listFailed(100_000)).find((f) => f.entry.id === id);
    } catch (err) {
      throw new Unavailable('Redis', err);
    }
    if (!found) throw new DeadLetterNotFound(id);
    const { entry, member } = found;
    const now = new Date().toISOString();
    const retryCount = (entry.retry_count ?? 0) + 1;
    let retry: RetryEntry;
    let outcome: RetryOutcome;
    const record = entry.source === 'run' && entry.run_id
      ? await this.store.getRun(entry.run_id).catch((err: unknown) => { throw new Unavailable('the database', err); })
      : undefined;
    let newRecord: { id: string; userId: string; prompt: string; priority: number } | undefined;
    if (record) {
      if (record.status !== 'failed') throw new RunNotRetryable(record.id, record.status, 'dead_letter');
      if (!this.signingSecret) throw new SigningUnavailable();
      const runId = newRunId();
      const priority = record.priority >= 1 && record.priority <= 5 ? record.priority : DEFAULT_PRIORITY;
      retry = {
        id: entry.id, kind: 'requeue', retry_at: now, retry_count: retryCount, reason: entry.reason,
        job: JSON.stringify({ run_id: runId, enqueued_at: now, priority, retry_count: retryCount, retry_of: record.id, sig: signIngress(this.signingSecret, runId, record.id) }),
      };
      newRecord = { id: runId, userId: record.user_id, prompt: record.prompt, priority };
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
      throw new Unavailable('Redis', err);
    }
    if (!claimed) throw new AlreadyRetried(id);
    if (record) {
      await recordControl({ store: this.store, log: this.log }, record.id, record.user_id, actor, 'retry', { runId: outcome.runId, entry: id })
        .catch((err: unknown) => this.log.error({ err, id, actor: actor.id }, 'could not audit a queue retry'));
    }
    try {
      // Should this fail, the consumer makes the record from the failed run's when it takes the entry.
      if (newRecord) await this.store.createRun({ ...newRecord, status: 'created' });
      await promoteRetry(this.queue, retry, retryMember);
    } catch (err) {
      // The entry waits in jobs:retry; the ingress consumer promotes it when the outage ends.
      this.log.warn({ err, id }, 'retry parked in jobs:retry');
    }
    this.log.info({ id, runId: outcome.runId, retryOf: outcome.retryOf }, 'dead-lettered entry retried');
    return outcome;
  }
}
