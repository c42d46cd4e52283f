/**
 * The bench's baseline workflow: K no-op activities in a row and nothing else — what
 * bare Temporal costs for the same number of steps, on the same server (./dev bench).
 */
import { proxyActivities } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '30s' });

export async function BareRun(steps: number): Promise<void> {
  for (let i = 0; i < steps; i += 1) await noop();
}
