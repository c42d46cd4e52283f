/**
 * AgentRun's activity proxies, one per timeout/retry set. The summary of an LLM
 * call or a tool step names it in the Web UI (and in recorded histories). Short
 * calls (records, events, credits) run as local activities: inside the workflow
 * task that asks for them, recorded as a marker, with no task-queue round trip.
 */
import { ActivityCancellationType, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';

/**
 * Short calls: records, events, credits. Retried 0.5, 1, 2 … 30 s apart with no count: a
 * database or Redis away for minutes delays a run's records and its credits' settlement,
 * never leaves them unwritten (a reservation left open). What cannot succeed is non-retryable.
 */
const SHORT = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' },
} as const;
/** LLM calls: the provider's own timeout inside; heartbeats so cancellation reaches them. */
const LLM = {
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8 },
} as const;
/**
 * Tool steps: long, heartbeating, so a dead worker is noticed within seconds; cancellation
 * waits until the tool stopped. What fails a step for good is non-retryable (the tool's own
 * failure is a result, not an error); what is retried is the infrastructure — S3, Redis,
 * the database, the apiserver, a worker going away — 1, 2, 4, 8, 10, 10 … s apart with no
 * count: an outage, or a storm of them (the fault suite's), delays runs, never fails them,
 * and a step goes on within seconds of its end (60 s apart, attempts fell in step with
 * the fault suite's outages and a 1 s step took 20 minutes). The bound is time: a step's
 * attempts end 4 hours after it was first scheduled (its own run is at most 2 of them),
 * and the Web UI shows each attempt's failure meanwhile.
 */
const TOOL = {
  startToCloseTimeout: '2 hours',
  scheduleToCloseTimeout: '4 hours',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10 seconds' },
} as const;

/**
 * Steps of the tools that call outside services (web_search, fetch_url, browser, MCP
 * connectors): the same, with at most OUTSIDE_ATTEMPTS attempts. After a failure of the
 * service the worker says when to try again (OUTSIDE_RETRY_MS, or the service's
 * Retry-After: src/activities/tools/outside.ts); this policy's 2–16 s apply to our own
 * errors. Each attempt the service fails counts on the user's
 * breaker for the tool, which ends the step when it opens (src/activities/steps.ts); a
 * service down for good fails the step within a minute instead of 4 hours of retries. The
 * cap counts every attempt, so an outage of our own infrastructure longer than those
 * 30 s fails such a step too (its run's supervisor, or the run's failure, says so).
 */
export const OUTSIDE_ATTEMPTS = 5;
const OUTSIDE_TOOL = {
  ...TOOL,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '16 seconds', maximumAttempts: OUTSIDE_ATTEMPTS },
} as const;
const OUTSIDE_TOOLS: ReadonlySet<string> = new Set(['web_search', 'fetch_url', 'browser', 'mcp']);

/** Short calls as activities (histories recorded before local short calls replay down this path). */
export const acts = proxyActivities<Activities>(SHORT);
/**
 * Short calls as local activities: the same functions, keys and retries; a call that keeps
 * failing past 10 s backs off on a server timer, so the workflow task is never held long.
 */
export const localActs = proxyLocalActivities<Activities>({ ...SHORT, localRetryThreshold: '10 seconds' });
/** The short calls a run makes, one way or the other. */
export type ShortCalls = typeof acts;
/** An LLM call (plan, supervise) summarised as `summary`. */
export const llmCall = (summary: string) => proxyActivities<Activities>({ ...LLM, summary });
/**
 * The workspace's file tools: the worker runs them itself against S3, in milliseconds, so
 * they run as local activities — no task-queue round trip, no workflow task of their own (a
 * run of such steps can be one workflow task). TOOL's retries and 4-hour bound; no heartbeat
 * (a local activity's is its workflow task's: a worker that dies mid-step lets it time out,
 * 10 s, and another worker runs the step again, finding its record); attempts that keep
 * failing past 10 s back off on server timers, so the workflow task is not held.
 */
const LOCAL_TOOLS: ReadonlySet<string> = new Set(['write_file', 'read_file', 'list_files', 'stat_file', 'delete_file']);
const LOCAL_TOOL = {
  startToCloseTimeout: '10 minutes',
  scheduleToCloseTimeout: TOOL.scheduleToCloseTimeout,
  cancellationType: TOOL.cancellationType,
  retry: TOOL.retry,
  localRetryThreshold: '10 seconds',
} as const;
/**
 * A step of `tool` summarised as `summary`: a file tool's is a local activity when the run
 * takes them so (`localFiles`: patch local-file-steps), any other an activity with its tool's
 * options (outside services' attempts are capped).
 */
export function toolStep(summary: string, tool: string, localFiles: boolean) {
  if (localFiles && LOCAL_TOOLS.has(tool)) return proxyLocalActivities<Activities>({ ...LOCAL_TOOL, summary });
  return proxyActivities<Activities>({ ...(OUTSIDE_TOOLS.has(tool) ? OUTSIDE_TOOL : TOOL), summary });
}

/**
 * The proxy `p` whose calls carry `epoch` in their input (when there is one): a reset
 * execution's calls, each of which reopens the run for its epoch before it acts, and keys
 * what it writes with it (src/activities/reopen.ts). Inputs only: the commands a workflow
 * task makes, which replay compares, stay as they were.
 */
export function withEpoch<T extends object>(p: T, epoch: string | undefined): T {
  if (epoch === undefined) return p;
  return new Proxy(p, {
    get(target, name) {
      const fn = Reflect.get(target, name) as unknown;
      if (typeof fn !== 'function') return fn;
      return (input: unknown, ...rest: unknown[]) =>
        (fn as (...a: unknown[]) => unknown)(input && typeof input === 'object' ? { ...input, epoch } : input, ...rest);
    },
  });
}
