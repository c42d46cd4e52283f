/**
 * WorkspaceRetention: one sweep of the workspace retention policy, started by the
 * worker's Temporal Schedule (see src/worker/retention-schedule.ts). The sweep itself is the
 * `pruneWorkspaces` activity; this workflow only gives it timeouts and retries.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { RetentionSweepResult } from '../activities/index.ts';

const { pruneWorkspaces } = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '10 minutes', maximumAttempts: 5 },
});

export interface WorkspaceRetentionInput {
  retentionDays: number;
  /** Only these users' workspaces (a targeted sweep); the schedule sweeps everyone. */
  userIds?: string[];
}

export async function WorkspaceRetention(input: WorkspaceRetentionInput): Promise<RetentionSweepResult> {
  return pruneWorkspaces({ retentionDays: input.retentionDays, userIds: input.userIds });
}
