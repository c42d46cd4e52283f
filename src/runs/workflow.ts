/**
 * The run's workflow in Temporal: the typed start of `AgentRun` (workflow id = run id),
 * its description, and what Temporal's execution status says about the run.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { RunNotFound, Unavailable } from './errors.ts';
import { START_DEADLINE_MS } from './model.ts';
import { isRunId, WORKFLOW_TYPE } from '../shared/names.ts';
import type { RunInput, RunStatus } from '../shared/run.ts';
import type { AgentRun } from '../workflows/agent-run.ts';
import { searchAttributes } from '../workflows/definitions.ts';

/** The run status of a closed workflow, by Temporal's execution status name; undefined while it runs. */
export function closedStatus(executionStatus: string): RunStatus | undefined {
  return CLOSED_STATUS[executionStatus];
}

const CLOSED_STATUS: Record<string, RunStatus | undefined> = {
  COMPLETED: 'completed', FAILED: 'failed', CANCELLED: 'cancelled', TERMINATED: 'failed', TIMED_OUT: 'failed',
};

/** Is this a Temporal call that failed because the server did not answer (UNAVAILABLE, DEADLINE_EXCEEDED)? */
export function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: number }).code;
  return code === 14 || code === 4;
}

/** Describes the run's workflow; RunNotFound when there is none. */
export async function describeRun(temporal: Client, id: string): Promise<WorkflowExecutionDescription> {
  if (!isRunId(id)) throw new RunNotFound(id);
  try {
    const d = await temporal.workflow.getHandle(id).describe();
    if (d.type !== WORKFLOW_TYPE) throw new RunNotFound(id);
    return d;
  } catch (err) {
    if (err instanceof RunNotFound) throw err;
    if (err instanceof WorkflowNotFoundError) throw new RunNotFound(id);
    if (isUnavailable(err)) throw new Unavailable('Temporal', err);
    throw err;
  }
}

/** Does the run's workflow exist? undefined when Temporal cannot say. */
export async function workflowExists(temporal: Client, id: string): Promise<boolean | undefined> {
  try {
    await temporal.connection.withDeadline(Date.now() + START_DEADLINE_MS / 2, () => temporal.workflow.getHandle(id).describe());
    return true;
  } catch (err) {
    return err instanceof WorkflowNotFoundError ? false : undefined;
  }
}

/**
 * Starts `AgentRun` for `input` (typed by the workflow function, imported as a type only: the
 * API never loads workflow code). A deadline, so a Temporal that stopped answering is an error
 * the caller can report, not a hang.
 */
export async function startAgentRun(temporal: Client, taskQueue: string, input: RunInput): Promise<void> {
  const { runId, userId, priority } = input;
  await temporal.connection.withDeadline(Date.now() + START_DEADLINE_MS, () => temporal.workflow.start<typeof AgentRun>(WORKFLOW_TYPE, {
    workflowId: runId,
    taskQueue,
    args: [input],
    typedSearchAttributes: [
      { key: searchAttributes.agentStatus, value: 'queued' },
      { key: searchAttributes.userId, value: userId },
      { key: searchAttributes.priority, value: priority },
    ],
    // Priority orders tasks; the user as fairness key keeps one user's flood from starving others.
    priority: { priorityKey: priority, fairnessKey: userId },
  }));
}
