/** The worker's readiness (its /readyz): ready only while it runs and both pollers poll the task queue. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkerStatus } from '@temporalio/worker';
import { workerReadiness } from '../../src/worker/metrics.ts';

const status = (over: Partial<WorkerStatus>): { getStatus: () => WorkerStatus } => ({
  getStatus: () => ({
    runState: 'RUNNING', workflowPollerState: 'POLLING', activityPollerState: 'POLLING', hasOutstandingWorkflowPoll: true, hasOutstandingActivityPoll: true,
    numInFlightWorkflowActivations: 0, numInFlightActivities: 2, numInFlightNonLocalActivities: 2, numInFlightLocalActivities: 0, numCachedWorkflows: 0, numHeartbeatingActivities: 0,
    ...over,
  }),
});

describe('worker readiness', () => {
  it('is ready while running with both pollers polling, and says so', () => {
    assert.deepEqual(workerReadiness(status({})), { ready: true, detail: { runState: 'RUNNING', workflowPoller: 'POLLING', activityPoller: 'POLLING', activitiesInFlight: 2 } });
  });
  for (const [what, over] of [
    ['starting', { runState: 'INITIALIZED' }],
    ['draining after SIGTERM', { runState: 'DRAINING' }],
    ['stopping', { runState: 'STOPPING' }],
    ['a failed workflow poller', { workflowPollerState: 'FAILED' }],
    ['a shut-down activity poller', { activityPollerState: 'SHUTDOWN' }],
  ] as [string, Partial<WorkerStatus>][]) {
    it(`is not ready when ${what}`, () => assert.equal(workerReadiness(status(over)).ready, false));
  }
});
