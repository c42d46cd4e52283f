/** What the `runStep` activity is asked to do: one plan step of one run. */
import type { PlanStep } from '../shared/run.ts';

export interface RunStepInput {
  runId: string;
  userId: string;
  /** Execution number within the run: the step's identity for records, events and charges. */
  index: number;
  /** Position in the plan. */
  planIndex?: number;
  /** The run whose workspace files the file tools use; absent means the run's own. */
  workspaceId?: string;
  step: PlanStep;
  /** Set when the run was reset: its keys carry it (src/activities/reopen.ts). */
  epoch?: string;
}

/** The key stem of what step `index` writes: `step:<index>`, with the epoch of a reset run. */
export const stepKey = (input: Pick<RunStepInput, 'index' | 'epoch'>) => `step:${input.index}${input.epoch === undefined ? '' : `@${input.epoch}`}`;
