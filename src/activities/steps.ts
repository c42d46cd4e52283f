/**
 * The `runStep` activity: executes one plan step at most once in effect.
 * A step's result record (kept with its last row) marks it done; a retried activity
 * (after a worker crash, say) that finds the record returns it instead of
 * running the tool again. Events use deterministic keys, so replays of the
 * activity never duplicate them on the run's stream. What each tool does is in
 * ./tools/ (./tools/index.ts dispatches).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ActivityDeps } from './deps.ts';
import { FAILURE_TYPES, nonRetryable } from './errors.ts';
import { describeStep, executeTool } from './tools/index.ts';
import { isOutsideFailure, retriedAfter } from './tools/outside.ts';
import type { BreakerNow } from '../infra/breaker.ts';
import { s3Keys } from '../shared/names.ts';
import { READ_ONLY_TOOLS, SANDBOXED_TOOLS } from '../shared/run.ts';
import type { RunEvent, StepResult } from '../shared/run.ts';
import { changesOf, readStepRecord, STEP_RECORD_ROW_MAX_BYTES } from '../workspace/index.ts';
import type { StepRecord, WriteJournal } from '../workspace/index.ts';
import { toolLabel } from '../shared/tool-label.ts';
import { stepKey } from './step-input.ts';
import type { RunStepInput } from './step-input.ts';
import type { FinishedStepInput, StepRecordInput, StepRowInput } from '../store/types.ts';

export type { RunStepInput } from './step-input.ts';

export async function runStep(deps: ActivityDeps, input: RunStepInput): Promise<StepResult> {
  return (await stepOutcome(deps, input)).result;
}

/** What a step came to: its result, and whether the user's breaker for its tool ended it (it is charged nothing then). */
export interface StepOutcome { result: StepResult; refused: boolean }

/** A step's row as the store records it, but its status and result: one builder for runStep and runPaidStep. */
export function stepRow(input: RunStepInput, attempt: number): StepRowInput {
  return { runId: input.runId, index: input.index, userId: input.userId, tool: input.step.tool, input: describeStep(input.step), attempt };
}

/**
 * How a step's row is written when it ends without an error: on its own (runStep), or by
 * runPaidStep in the same call as its hold's settlement (src/activities/paid-step.ts).
 */
export interface StepBook {
  /** The step's row already says running (its hold recorded it): no call of its own for that. */
  begun: boolean;
  /**
   * Nothing of the step was written before this call (its hold was new): no record or
   * observation of an earlier attempt to look for. Without a book, an activity's first attempt
   * is fresh; a local activity's never is (a worker that died mid-task runs it again as attempt 1).
   */
  fresh?: boolean;
  /** Events that go out with the step's first event (its hold's line). */
  leading: RunEvent[];
  /** Records the step's end; answers the events that follow its `completed` event (its charge). */
  finish(row: FinishedStepInput, result: StepResult, refused: boolean): Promise<RunEvent[]>;
}

/** runStep, saying whether the breaker ended the step (runPaidStep charges by it). */
export async function stepOutcome(deps: ActivityDeps, input: RunStepInput, paid?: StepBook): Promise<StepOutcome> {
  const { runId, userId, index, step } = input;
  const stepEvent = (phase: string, extra: Record<string, unknown> = {}): RunEvent => ({
    key: `${stepKey(input)}:${phase}`, type: 'step', data: { index, tool: step.tool, phase, ...extra },
  });

  const ctx = Context.current();
  const row = stepRow(input, ctx.info.attempt);
  const rowAt = <S extends StepRecordInput['status']>(status: S, r?: StepResult) => ({ ...row, status, outputSummary: r?.summary, durationMs: r?.durationMs });
  const record = (status: StepRecordInput['status'], r?: StepResult) => deps.store.recordStep(rowAt(status, r));
  const book: StepBook = paid ?? { begun: false, leading: [], finish: async (final) => { await deps.store.recordStep(final); return []; } };
  // The leading events go out once, with the first event the step appends.
  let leading = book.leading;
  const lead = () => { const l = leading; leading = []; return l; };
  // The step's end: its row (and charge) with its result record, then its `completed` event and what follows
  // it. The record, serialized once, commits with the row; one too large for a row is an S3 object of the
  // same text, written alongside.
  const finish = async (r: StepResult, refused: boolean, extra: Record<string, unknown>, record?: StepRecord) => {
    const row = rowAt(r.ok ? 'completed' : 'failed', r);
    const json = record === undefined ? undefined : JSON.stringify(record);
    const kept = json !== undefined && Buffer.byteLength(json) <= STEP_RECORD_ROW_MAX_BYTES ? json : undefined;
    const [trailing] = await Promise.all([
      book.finish(kept !== undefined ? { ...row, result: { epoch: input.epoch, json: kept } } : row, r, refused),
      json !== undefined && kept === undefined
        ? deps.workspace.put(s3Keys.stepRecord(userId, runId, index, input.epoch), json, { contentType: 'application/json' }) : undefined,
    ]);
    await deps.events.append(runId, [...lead(), stepEvent('completed', { ok: r.ok, summary: r.summary, ...extra }), ...trailing]);
  };

  // A fresh step cannot find its own record: it skips the read.
  const fresh = book.fresh ?? (ctx.info.attempt === 1 && !ctx.info.isLocal);
  const recorded = fresh ? undefined : await readStepRecord({ db: deps.store, objects: deps.workspace }, userId, runId, index, input.epoch);
  if (recorded) {
    const { outputTail: _tail, workspace: _files, changes: _changes, ...done } = recorded;
    await finish(done, false, {});
    return { result: done, refused: false };
  }

  // The user's breaker for this tool (src/infra/breaker.ts): open, the step is refused without running.
  // Breakers are per tool as approvals name it: each MCP connector's tool has its own.
  const label = toolLabel(step);
  const warn = (err: unknown) => { deps.log.warn({ err, runId, tool: label }, 'tool breaker unavailable; the step runs'); return undefined; };
  // The step ends as a failed result the supervisor reads (it may replan), not as an error.
  // When this step's own failure opened the breaker, the summary ends with that failure.
  const refuse = async (b: BreakerNow, last?: string): Promise<StepOutcome> => {
    const refused: StepResult = { index, tool: step.tool, ok: false, durationMs: 0,
      summary: `${label} is unavailable to you until ${new Date(b.until).toISOString()}: it failed ${b.failures} time(s) in a row (its breaker is open)${last ? `; the last time: ${last}` : ''}` };
    await finish(refused, true, { breaker: true });
    return { result: refused, refused: true };
  };
  const breaker = await deps.breaker?.state(userId, label).catch(warn);
  if (breaker?.open) return refuse(breaker);
  // A success writes only when there are failures on record to clear.
  const count = (ok: boolean) => (ok && !breaker ? undefined : deps.breaker?.record(userId, label, ok).catch(warn));

  const sandboxed = SANDBOXED_TOOLS.has(step.tool) ? { sandbox: deps.sandbox.kind } : {};
  // The workspace after the step, for forks: a step that only reads records nothing (it left it as
  // the step before did); a step the worker sees write notes its changes from the writes' answers;
  // after a sandboxed step (it writes itself) or in a workspace another run began (its files before
  // this run are not in this run's records) the workspace is listed.
  const workspaceId = input.workspaceId ?? runId;
  const tracking = READ_ONLY_TOOLS.has(step.tool) ? 'none' : SANDBOXED_TOOLS.has(step.tool) || workspaceId !== runId ? 'listing' : 'changes';
  const journal: WriteJournal | undefined = tracking === 'changes' ? { prefix: s3Keys.workspaceFiles(userId, workspaceId), files: new Map() } : undefined;
  await Promise.all([book.begun ? undefined : record('running'), deps.events.append(runId, [...lead(), stepEvent('started', { ...describeStep(step), ...sandboxed })])]);
  const started = performance.now();
  let result: StepResult;
  try {
    result = await executeTool(journal ? { ...deps, workspace: deps.workspace.journaled(journal) } : deps, input, ctx, fresh);
  } catch (err) {
    const failed = (summary: string) => record('failed', { index, tool: step.tool, ok: false, summary, durationMs: Math.round(performance.now() - started) });
    if (isOutsideFailure(err) && !ctx.cancellationSignal.aborted) {
      // The outside service failed this attempt: one failure on the breaker, which may end the step.
      const now = await deps.breaker?.record(userId, label, false).catch(warn);
      if (now?.open) return refuse(now, err.message);
      // The workflow caps these tools' attempts (src/workflows/proxies.ts): the last one says so.
      const max = ctx.info.retryPolicy?.maximumAttempts;
      const last = !err.nonRetryable && max !== undefined && max > 0 && ctx.info.attempt >= max;
      const ended = last ? nonRetryable(err.type!, `${err.message} (attempt ${ctx.info.attempt} of ${max}: not tried again)`) : retriedAfter(err, deps.tools.outsideRetryMs, ctx.info.attempt);
      if (ended.nonRetryable) await failed(ended.message);
      throw ended;
    }
    // A refusal (bad path, missing file) ends the step for good: record it as failed. One the
    // egress guard made (fetch_url or browser named a forbidden address) is the model's input,
    // not an outage of the tool: not held against its breaker.
    if (err instanceof ApplicationFailure && err.nonRetryable) {
      await Promise.all([failed(err.message), err.type === FAILURE_TYPES.fetchRefused ? undefined : count(false)]);
    }
    throw err;
  }
  await count(result.ok);
  result.durationMs = Math.round(performance.now() - started);
  if (input.planIndex !== undefined) result.planIndex = input.planIndex;
  if (input.epoch !== undefined) result.epoch = input.epoch;
  const { outputTail, ...forHistory } = result as StepResult & { outputTail?: string };
  result = forHistory;
  // Metadata only; a failed listing costs the fork, not the step.
  const workspace = tracking !== 'listing' ? undefined : await deps.workspace.manifest(userId, workspaceId).catch((err: unknown) => {
    deps.log.warn({ err, runId, index }, 'workspace manifest not recorded: no fork from this step');
    return undefined;
  });
  const changes = journal && changesOf(workspaceId, journal);
  // The record and the step's last row are written together, `completed` after both. Should they not be
  // written, a retry runs the step again, as when it failed before the row: the row and the charge are
  // idempotent by their keys.
  await finish(result, false, { exitCode: result.exitCode }, { ...result, outputTail, workspace, changes });
  return { result, refused: false };
}

