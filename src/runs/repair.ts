/**
 * Repair of run records left `queued` without a workflow. Admission records a run
 * (`queued`) before its workflow is started; an API process that stops in between
 * leaves a record that would hold a place under API_MAX_ACTIVE_RUNS for ever. Every
 * API process looks for records queued longer than API_REPAIR_GRACE_S (at start and
 * every API_REPAIR_INTERVAL_S) and asks Temporal about each:
 *   - no workflow: the record is failed (`start_interrupted`, nothing ran or was
 *     charged); when it was listed on jobs:*, it moves to jobs:failed, where an
 *     operator can retry it;
 *   - a workflow that closed before reporting (e.g. terminated from the CLI): the
 *     record takes its end status;
 *   - a running workflow (waiting for a worker), or Temporal unavailable: left alone.
 * The failing update is conditional (still queued, still stale), so concurrent API
 * processes and a run that moves on meanwhile are safe.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { closedStatus } from './workflow.ts';
import type { QueueFacade } from '../infra/queue.ts';
import type { StaleCursor, Store } from '../store/types.ts';

export interface RepairDeps {
  store: Store;
  temporal: Client;
  log: Logger;
  queue?: QueueFacade;
}

export const START_INTERRUPTED = {
  code: 'start_interrupted',
  message: 'the API stopped between admitting this run and starting it: nothing ran and nothing was charged; start it again',
} as const;

export interface RepairOutcome { failed: string[]; closed: string[]; running: string[]; unknown: string[] }

/** Stale records read per page, and pages per pass (a pass looks at up to PAGE × PAGES records). */
const PAGE = 100;
const PAGES = 20;

/**
 * One pass over the stale queued records, page by page: a flood of runs rightly queued
 * behind busy workers (left alone) must not hide a newer record an interrupted start left.
 */
export async function repairQueuedRuns(deps: RepairDeps, graceS: number, pageSize = PAGE, pages = PAGES): Promise<RepairOutcome> {
  const out: RepairOutcome = { failed: [], closed: [], running: [], unknown: [] };
  let after: StaleCursor | undefined;
  for (let page = 0; page < pages; page += 1) {
    const stale = await deps.store.listStaleQueued(graceS, pageSize, after);
    await repairPage(deps, graceS, stale.map((r) => r.id), out);
    if (stale.length < pageSize) break;
    const last = stale.at(-1)!;
    after = { updatedAt: last.updated_at, id: last.id };
  }
  if (out.failed.length + out.closed.length > 0) deps.log.warn({ failed: out.failed, closed: out.closed }, 'repaired run records left queued without a running workflow');
  return out;
}

async function repairPage(deps: RepairDeps, graceS: number, ids: string[], out: RepairOutcome): Promise<void> {
  for (const id of ids) {
    let status: string;
    try {
      status = (await deps.temporal.workflow.getHandle(id).describe()).status.name;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) {
        out.unknown.push(id);
        deps.log.warn({ err, id }, 'repair: Temporal cannot say whether the run started; will look again');
        continue;
      }
      if (await deps.store.failStaleQueued(id, graceS, START_INTERRUPTED)) {
        out.failed.push(id);
        // A run the API had listed on jobs:* moves to jobs:failed (an operator can retry it there).
        const queue = deps.queue;
        if (queue) {
          await queue.whereIs(id).then((at) => (at ? queue.track(id, 'failed', { reason: START_INTERRUPTED }) : undefined))
            .catch((e: unknown) => deps.log.warn({ err: e, id }, 'repair: could not dead-letter the run'));
        }
      }
      continue;
    }
    const closed = closedStatus(status);
    if (closed) {
      await deps.store.updateRun(id, closed, { error: { code: 'workflow_closed', message: `the run's workflow ended ${status} before it reported a status` } });
      out.closed.push(id);
    } else {
      out.running.push(id);
    }
  }
}

/** Runs the repair now and every `intervalS`; stop() ends it. */
export function startRepairLoop(deps: RepairDeps, opts: { intervalS: number; graceS: number }): { stop(): void; done: Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  const pass = () => {
    running = running.then(() => repairQueuedRuns(deps, opts.graceS).then(() => undefined))
      .catch((err: unknown) => deps.log.warn({ err }, 'repair of queued runs failed; will try again'));
  };
  pass();
  const timer = setInterval(pass, opts.intervalS * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer), get done() { return running; } };
}
