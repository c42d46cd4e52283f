/**
 * The worker keeps one Temporal Schedule per task queue that runs the
 * WorkspaceRetention workflow every RETENTION_EVERY, with the worker's
 * WORKSPACE_RETENTION_DAYS. With the policy off (0 days) the schedule is removed.
 * Visible (and pausable, triggerable) in the Web UI and with `temporal schedule`.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Client, ScheduleOptions } from '@temporalio/client';
import type { WorkspaceRetentionInput } from '../workflows/workspace-retention.ts';

export const RETENTION_WORKFLOW_TYPE = 'WorkspaceRetention';
export const RETENTION_EVERY = '6h';

/** Schedule id for a task queue (workers of other queues, e.g. tests', keep their own). */
export const retentionScheduleId = (taskQueue: string) => `agentrun-workspace-retention-${taskQueue}`;

function options(taskQueue: string, retentionDays: number): ScheduleOptions {
  const args: [WorkspaceRetentionInput] = [{ retentionDays }];
  return {
    scheduleId: retentionScheduleId(taskQueue),
    spec: { intervals: [{ every: RETENTION_EVERY }] },
    action: { type: 'startWorkflow', workflowType: RETENTION_WORKFLOW_TYPE, taskQueue, args, workflowId: `workspace-retention-${taskQueue}` },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1h' },
    state: { note: `deletes workspace files of runs that ended more than ${retentionDays} day(s) ago (WORKSPACE_RETENTION_DAYS)` },
  };
}

/** Creates or updates the retention schedule of `taskQueue`; deletes it when `retentionDays` is 0. */
export async function ensureRetentionSchedule(client: Client, taskQueue: string, retentionDays: number): Promise<'created' | 'updated' | 'removed' | 'absent'> {
  const id = retentionScheduleId(taskQueue);
  if (retentionDays <= 0) {
    try {
      await client.schedule.getHandle(id).delete();
      return 'removed';
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return 'absent';
      throw err;
    }
  }
  const want = options(taskQueue, retentionDays);
  try {
    await client.schedule.create(want);
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await client.schedule.getHandle(id).update((prev) => ({ ...prev, spec: want.spec, action: want.action, policies: want.policies }));
  return 'updated';
}
