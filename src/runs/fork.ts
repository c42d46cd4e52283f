/**
 * Forking a run: a new run that starts after step N of an ended run, with that run's
 * remaining plan and its workspace as it was after step N. Each step's record holds a
 * manifest of the workspace's file versions (src/workspace/versions.ts), so a fork copies
 * those versions server-side into the new run's own workspace: metadata, not data through
 * this process. The fork is audited on the run it was made from.
 */
import { recordControl } from './audit.ts';
import type { Actor } from './audit.ts';
import { NotForkable, Unavailable } from './errors.ts';
import { newRunId } from './ids.ts';
import { DEFAULT_PRIORITY } from './model.ts';
import type { RunsDeps, StartRequest } from './model.ts';
import { ownedRun, runRecord } from './ownership.ts';
import { getRun } from './read.ts';
import { launch } from './start.ts';
import { statusQuery } from '../workflows/definitions.ts';
import { s3Keys } from '../shared/names.ts';
import { READ_ONLY_TOOLS, TERMINAL_STATUSES } from '../shared/run.ts';
import type { RunStatus } from '../shared/run.ts';
import { applyChanges, readStepRecord } from '../workspace/index.ts';
import type { StepRecord, WorkspaceChanges, WorkspaceManifest } from '../workspace/index.ts';

export interface ForkRequest extends Pick<StartRequest, 'requireApproval' | 'priority' | 'budget'> {
  /** The step (1-based, as the run's log counts them) after which the fork starts. */
  fromStep: number;
}

/** Forks run `id` of the caller after step `req.fromStep`. */
export async function forkRun(deps: RunsDeps, actor: Actor, id: string, req: ForkRequest): Promise<{ id: string; status: RunStatus; forkOf: { runId: string; step: number } }> {
  const userId = actor.id;
  const run = await ownedRun(deps, userId, id);
  const view = await getRun(deps, userId, id);
  if (!TERMINAL_STATUSES.has(view.status)) throw new NotForkable(id, 'run_not_ended', `run ${id} is ${view.status}: fork it once it has ended`);
  const record = run.record ?? await runRecord(deps, id);
  if (!record) throw new Unavailable('the database');
  const step = req.fromStep;
  const records = await stepRecords(deps, userId, id, record.epoch ?? undefined);
  if (records.executions !== undefined && step > records.executions) throw new NotForkable(id, 'no_such_step', `run ${id} has no step ${step} on record: it ran ${records.executions}`);
  const after = await records.read(step - 1);
  if (!after) throw new NotForkable(id, 'no_such_step', `run ${id} has no step ${step} on record`);
  const plan = view.plan ?? (record.plan as StartRequest['plan']);
  const rest = plan?.steps.slice((after.planIndex ?? after.index) + 1) ?? [];
  if (!plan || rest.length === 0) throw new NotForkable(id, 'nothing_after_step', `step ${step} was the last of run ${id}'s plan: nothing to run after it`);
  const files = await manifestAfter(deps, userId, id, step - 1, after, records.read);
  if (!files || Object.values(files.files).some((v) => v === null)) {
    throw new NotForkable(id, 'workspace_not_versioned', `the workspace of run ${id} after step ${step} was not recorded with file versions (the bucket must keep versions): it cannot be forked with its files`);
  }
  const newId = newRunId();
  const forkOf = { runId: id, step };
  await recordControl(deps, id, userId, actor, 'fork', { runId: newId, step });
  const started = await launch(deps, userId, newId, {
    prompt: record.prompt, priority: req.priority ?? (record.priority || DEFAULT_PRIORITY), requireApproval: req.requireApproval, budget: req.budget,
  }, {}, { plan: { summary: `${plan.summary} (forked from ${id} after step ${step})`, steps: rest }, forkOf, files });
  return { ...started, forkOf };
}

/**
 * The workspace as step `index` (record `after`) left it: the nearest whole manifest at or
 * before it, or the workspace's start (empty, or a fork's copies), with every later step's
 * changes added. Undefined when a step on the way left no record (it failed: what it
 * changed is unknown) or a step that writes recorded neither.
 */
async function manifestAfter(deps: RunsDeps, userId: string, runId: string, index: number, after: StepRecord, read: (i: number) => Promise<StepRecord | undefined>): Promise<WorkspaceManifest | undefined> {
  const changes: WorkspaceChanges[] = [];
  for (let i = index; i >= 0; i--) {
    const rec = i === index ? after : await read(i);
    if (!rec) return undefined;
    if (rec.workspace) return applyChanges(rec.workspace, changes.reverse());
    if (rec.changes) changes.push(rec.changes);
    else if (!READ_ONLY_TOOLS.has(rec.tool)) return undefined;
  }
  // A workspace another run began held files before this run: its steps list it whole, but one that only read did not.
  if (await deps.workspace.workspaceOf(userId, runId) !== runId) return undefined;
  const base = await deps.workspace.getJson<WorkspaceManifest>(s3Keys.workspaceBase(userId, runId)) ?? { id: runId, files: {} };
  return applyChanges(base, changes.reverse());
}

/**
 * The step records of run `runId` as its last execution's line of executions left them. A
 * reset execution keys the records of the steps it runs with its epoch and inherits the
 * earlier ones: the run's state says which epoch holds each (RunState.recordEpochs). When
 * no worker answers, or the run was reset under code that did not say, the record of the
 * epoch it was last reopened for is read, else the one of its first execution.
 */
async function stepRecords(deps: RunsDeps, userId: string, runId: string, lastEpoch: string | undefined) {
  const state = await deps.temporal.workflow.getHandle(runId).query(statusQuery).catch(() => undefined);
  const pairs = state?.recordEpochs;
  const epochsOf = (i: number): (string | undefined)[] => {
    const pair = pairs?.findLast(([from]) => from <= i);
    if (pair) return [pair[1] ?? undefined];
    return lastEpoch === undefined ? [undefined] : [lastEpoch, undefined];
  };
  const read = async (i: number): Promise<StepRecord | undefined> => {
    try {
      for (const epoch of epochsOf(i)) {
        const rec = await readStepRecord({ db: deps.store, objects: deps.workspace }, userId, runId, i, epoch);
        if (rec) return rec;
      }
      return undefined;
    } catch (err) {
      throw new Unavailable('the store of step records (the database, or the workspace bucket for older ones)', err);
    }
  };
  return { read, executions: state?.iterations };
}
