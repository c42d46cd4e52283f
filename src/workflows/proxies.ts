/**
 * AgentRun's activity proxies, one per timeout/retry set. The summary of an LLM
 * call or a tool step names it in the Web UI (and in recorded histories).
 */
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';

/** Short calls: records, events, credits. */
const SHORT = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
} as const;
/** LLM calls: the provider's own timeout inside; heartbeats so cancellation reaches them. */
const LLM = {
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8 },
} as const;
/** Tool steps: long, heartbeating, so a dead worker is noticed within seconds; cancellation waits until the tool stopped. */
const TOOL = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
} as const;

export const acts = proxyActivities<Activities>(SHORT);
/** An LLM call (plan, supervise) summarised as `summary`. */
export const llmCall = (summary: string) => proxyActivities<Activities>({ ...LLM, summary });
/** A tool step summarised as `summary`. */
export const toolStep = (summary: string) => proxyActivities<Activities>({ ...TOOL, summary });
