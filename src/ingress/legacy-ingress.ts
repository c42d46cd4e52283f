/**
 * Legacy ingress: a seed-era producer `LPUSH`es `{"run_id":"…","enqueued_at":"…","priority":0,"retry_count":0,"sig":"…"}`
 * onto jobs:pending (or jobs:high_priority) for a run record it created (status
 * `created`); this consumer starts that run.
 *
 * Redis is a transport, never an authority: an entry must carry a valid signature
 * (HMAC-SHA256 of its run id with INGRESS_SIGNING_SECRET, see ingress-signature.ts;
 * `bad_signature` otherwise), and only its run id is acted on — the user, prompt and
 * priority come from the run's database record. A retried run (an API-written entry
 * with a signed `retry_of`) takes them from the failed run's record.
 *
 * Runs in the API process and starts runs through the same RunsService (src/runs) as
 * the HTTP routes (run input, workspace claim, priority and fairness keys, the record's
 * `queued` status), so legacy and HTTP starts are one code path; its refusals are the
 * runs' domain errors (AtRunLimit, RunNotFound). Every API replica may consume, entries
 * are taken atomically.
 *
 * Reliable: an entry is moved into jobs:processing (LMOVE in a script) and removed
 * only once Temporal accepted the start (workflow id = run id, so a second start of
 * a recovered entry is a no-op). Entries a crashed consumer left in jobs:processing
 * are finished at start. Malformed or unknown entries go to jobs:failed with the
 * reason; transient outages park the entry in jobs:retry with backoff. Nothing is dropped.
 *
 * It proves it is consuming: it refuses to start when Redis cannot run its scripts,
 * logs `legacy queue consumer started`, and exports its last poll time (`/readyz`
 * reports it down when polling stalls).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { promoteRetry } from './queue-service.ts';
import { PreflightError } from '../infra/preflight.ts';
import type { QueueFacade } from '../infra/queue.ts';
import type { Redis } from '../infra/redis.ts';
import { AtRunLimit, RunNotFound } from '../runs/errors.ts';
import type { RunsService } from '../runs/index.ts';
import { ingressSignatureProblem } from '../shared/ingress-signature.ts';
import { legacyJob } from '../shared/queue.ts';
import type { FailureReason, LegacyJob } from '../shared/queue.ts';
import type { Store } from '../store/types.ts';

export type IngressOutcome = 'started' | 'already_started' | 'dead_lettered' | 'deferred' | 'requeued';

export interface LegacyIngressDeps {
  redis: Redis;
  queue: QueueFacade;
  runs: Pick<RunsService, 'start' | 'describe'>;
  store: Store;
  log: Logger;
  pollMs: number;
  /** Attempts through transient outages before an entry is dead-lettered. */
  maxAttempts: number;
  defaultPriority: number;
  /** INGRESS_SIGNING_SECRET; the consumer refuses to start without one. */
  signingSecret: string | undefined;
  /** Called for every entry handled and every poll, for metrics. */
  onOutcome?: (outcome: IngressOutcome) => void;
}

/** A dependency is down: the entry is deferred to jobs:retry with backoff (an attempt). */
class Transient extends Error {}

export class LegacyIngress {
  private readonly deps: LegacyIngressDeps;
  private readonly ac = new AbortController();
  private loop?: Promise<void>;
  /** When the consumer last polled (ms since epoch); 0 before it started. */
  lastPollAt = 0;

  constructor(deps: LegacyIngressDeps) {
    this.deps = deps;
  }

  /** Checks Redis can run the consumer, finishes entries a crashed consumer left, then consumes until `stop`. */
  async start(): Promise<void> {
    const { redis, queue, log } = this.deps;
    if (!this.deps.signingSecret) {
      throw new PreflightError('legacy queue consumer: INGRESS_SIGNING_SECRET is not set, and it accepts only signed entries (set it, at least 32 characters, or set QUEUE_CONSUMER=false)');
    }
    const info = await redis.info('server').catch((err: unknown) => {
      throw new PreflightError(`legacy queue consumer: Redis INFO failed: ${(err as Error).message}`, { cause: err });
    });
    const version = /redis_version:(\d+)\.(\d+)/.exec(info);
    if (!version || Number(version[1]) < 6 || (Number(version[1]) === 6 && Number(version[2]) < 2)) {
      throw new PreflightError(`legacy queue consumer: Redis ${version ? `${version[1]}.${version[2]}` : '(unknown version)'} lacks LMOVE (needs 6.2 or later; or set QUEUE_CONSUMER=false)`);
    }
    await queue.stats(); // proves the keys are lists this consumer can read (WRONGTYPE otherwise)
    const leftovers = await queue.unfinishedIngress();
    for (const raw of leftovers) await this.handle(raw);
    await this.promoteDue();
    this.lastPollAt = Date.now();
    log.info({ keys: queue.keys, recovered: leftovers.length, pollMs: this.deps.pollMs }, 'legacy queue consumer started');
    this.loop = this.run();
  }

  /** Stops taking entries and waits for the one in hand to finish. */
  async stop(): Promise<void> {
    this.ac.abort();
    await this.loop;
    this.deps.log.info('legacy queue consumer stopped');
  }

  private async run(): Promise<void> {
    const { queue, log, pollMs } = this.deps;
    let failures = 0;
    while (!this.ac.signal.aborted) {
      try {
        await this.promoteDue();
        const claimed = await queue.claim();
        this.lastPollAt = Date.now();
        failures = 0;
        if (claimed) {
          await this.handle(claimed.raw);
          continue;
        }
      } catch (err) {
        failures += 1;
        if (failures === 1 || failures % 20 === 0) log.warn({ err: (err as Error).message, failures }, 'legacy queue consumer: poll failed');
      }
      await sleep(failures > 0 ? Math.min(pollMs * 2 ** Math.min(failures, 5), 10_000) : pollMs, undefined, { signal: this.ac.signal }).catch(() => undefined);
    }
  }

  /** jobs:retry entries that are due go back onto jobs:pending. */
  private async promoteDue(): Promise<void> {
    const now = Date.now();
    for (const { entry, member } of await this.deps.queue.listRetry()) {
      if (Date.parse(entry.retry_at) > now) continue;
      if (await promoteRetry(this.deps.queue, entry, member)) this.deps.onOutcome?.('requeued');
    }
  }

  private async deadLetter(raw: string, reason: FailureReason, runId?: string): Promise<void> {
    await this.deps.queue.deadLetter(raw, reason, runId);
    this.deps.log.warn({ runId, reason, entry: raw.slice(0, 200) }, 'legacy job dead-lettered');
    this.deps.onOutcome?.('dead_lettered');
  }

  /** One entry that sits in jobs:processing. */
  async handle(raw: string): Promise<IngressOutcome> {
    const { queue, log } = this.deps;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      await this.deadLetter(raw, { code: 'malformed_json', message: `entry is not JSON: ${(err as Error).message}` });
      return 'dead_lettered';
    }
    const parsed = legacyJob.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const runId = typeof (value as { run_id?: unknown })?.run_id === 'string' ? (value as { run_id: string }).run_id : undefined;
      await this.deadLetter(raw, { code: 'invalid_job', message: `${issue.path.join('.') || 'entry'}: ${issue.message}` }, runId);
      return 'dead_lettered';
    }
    const job = parsed.data;
    const problem = ingressSignatureProblem(this.deps.signingSecret!, job);
    if (problem) {
      await this.deadLetter(raw, { code: 'bad_signature', message: problem }, job.run_id);
      return 'dead_lettered';
    }
    try {
      const outcome = await this.startJob(raw, job);
      this.deps.onOutcome?.(outcome);
      return outcome;
    } catch (err) {
      if (err instanceof AtRunLimit) {
        // The run's user has as many runs going as allowed: waiting for a place is not a failure: retry_count stays, the entry is never dead-lettered for it.
        const delayMs = err.retryAfterS * 1000; // API_RUN_LIMIT_RETRY_AFTER_S
        await queue.defer(raw, raw, job.retry_count ?? 0, new Date(Date.now() + delayMs), { code: err.code, message: err.message });
        log.info({ runId: job.run_id, delayMs }, 'legacy job waits: its user is at the active-run limit');
        this.deps.onOutcome?.('deferred');
        return 'deferred';
      }
      if (!(err instanceof Transient)) throw err;
      const attempt = (job.retry_count ?? 0) + 1;
      const reason = { code: 'start_failed', message: err.message };
      if (attempt >= this.deps.maxAttempts) {
        await this.deadLetter(raw, { code: 'start_failed', message: `${err.message} (gave up after ${attempt} attempts)` }, job.run_id);
        return 'dead_lettered';
      }
      const delayMs = Math.min(1000 * 2 ** attempt, 60_000);
      await queue.defer(raw, JSON.stringify({ ...job, retry_count: attempt }), attempt, new Date(Date.now() + delayMs), reason);
      log.warn({ runId: job.run_id, attempt, delayMs, reason: err.message }, 'legacy job deferred to jobs:retry');
      this.deps.onOutcome?.('deferred');
      return 'deferred';
    }
  }

  private async startJob(raw: string, job: LegacyJob): Promise<IngressOutcome> {
    const { queue, store, runs, log } = this.deps;
    const getRun = (id: string) => store.getRun(id).catch((err: unknown) => { throw new Transient(`the database is unavailable: ${(err as Error).message}`); });
    let record = await getRun(job.run_id);
    const original = job.retry_of ? await getRun(job.retry_of) : undefined;
    if (job.retry_of) {
      // A retried run repeats a failed run of the same user; its record is made from that run's.
      if (!original || (record && record.user_id !== original.user_id)) {
        const why = original ? `is a run of another user than run ${job.run_id}'s` : 'names no run record';
        await this.deadLetter(raw, { code: 'bad_retry', message: `retry_of ${job.retry_of} ${why}` }, job.run_id);
        return 'dead_lettered';
      }
      if (!record) {
        await store.createRun({ id: job.run_id, userId: original.user_id, prompt: original.prompt, priority: original.priority, status: 'created' })
          .catch((err: unknown) => { throw new Transient(`the database is unavailable: ${(err as Error).message}`); });
        record = await getRun(job.run_id);
      }
    }
    if (!record) {
      await this.deadLetter(raw, { code: 'unknown_run', message: `no run record ${job.run_id} (create it, status created, before enqueueing)` }, job.run_id);
      return 'dead_lettered';
    }
    if (await this.inTemporal(job.run_id)) {
      await queue.ack(raw); // started already (by us before a crash, or by the API): consumed
      log.info({ runId: job.run_id }, 'legacy job names a run that is already started');
      return 'already_started';
    }
    if (record.status !== 'created' && record.status !== 'queued') {
      await this.deadLetter(raw, { code: 'not_startable', message: `run ${job.run_id} is ${record.status}; only created runs are started` }, job.run_id);
      return 'dead_lettered';
    }
    const priority = record.priority >= 1 && record.priority <= 5 ? record.priority : this.deps.defaultPriority;
    const opts = { id: job.run_id, retryCount: job.retry_count, retryOf: job.retry_of };
    try {
      // A retried run keeps working in the failed run's files.
      await runs.start(record.user_id, { prompt: record.prompt, priority, workspaceId: job.retry_of }, opts);
    } catch (err) {
      if (err instanceof AtRunLimit) throw err;
      // A start Temporal refused marks the run failed and dead-letters it as a run: the entry is consumed.
      const now = await store.getRun(job.run_id).catch(() => undefined);
      if (now?.status === 'failed') {
        await queue.ack(raw);
        return 'dead_lettered';
      }
      throw new Transient((err as Error).message);
    }
    await queue.ack(raw);
    log.info({ runId: job.run_id, priority, retryOf: job.retry_of }, 'legacy job started');
    return 'started';
  }

  private async inTemporal(runId: string): Promise<boolean> {
    try {
      await this.deps.runs.describe(runId);
      return true;
    } catch (err) {
      if (err instanceof RunNotFound) return false;
      throw new Transient(`Temporal is unavailable: ${(err as Error).message}`);
    }
  }
}
