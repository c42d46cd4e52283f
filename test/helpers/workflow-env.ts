/**
 * Workflow logic tests: TestWorkflowEnvironment on the real dev-server (or the
 * time-skipping test server) binary installed by ./dev, and plain-object fake
 * activities that record what the workflow asked for.
 */
import { readFile } from 'node:fs/promises';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Runtime, DefaultLogger } from '@temporalio/worker';
import type { WorkflowBundle } from '@temporalio/worker';
import type { Activities, CloseRunInput, OpenRunInput, PaidStep, RunPaidStepInput } from '../../src/activities/index.ts';
import { openRunWith } from '../../src/activities/records.ts';
import { stepCredits } from '../../src/shared/pricing.ts';
import type { Plan, PlanStep, RunEvent, RunInput, StepResult } from '../../src/shared/run.ts';
import type { SupervisorDecision } from '../../src/shared/supervisor.ts';
import type { CreditResult } from '../../src/store/types.ts';
import { searchAttributes } from '../../src/workflows/definitions.ts';
import { TEMPORAL_DEV_DYNAMIC_CONFIG } from '../../src/dev/services/temporal.ts';
import { SEARCH_ATTRIBUTES } from '../../src/shared/names.ts';
import proto from '@temporalio/proto';

const { temporal } = proto;
import { stackEnv, TEST_WORKFLOW_BUNDLE } from './stack.ts';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../src/worker/bundle.ts';

let bundle: Promise<WorkflowBundle> | undefined;
/**
 * The workflow bundle the worker runs (its OpenTelemetry interceptors included): the one
 * `./dev test` built for the run (stack.ts's TEST_WORKFLOW_BUNDLE), else built once per test process.
 */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= TEST_WORKFLOW_BUNDLE
    ? readFile(TEST_WORKFLOW_BUNDLE, 'utf8').then((code) => ({ code }))
    : bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS, logger: new DefaultLogger('WARN') });
  return bundle;
}

let runtimeInstalled = false;
function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('WARN') });
}

/** The dev server; `dynamicConfig` sets server limits (e.g. when it suggests continue-as-new). */
export async function localEnv(dynamicConfig: Record<string, string | number> = {}): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const dynamic = Object.entries(dynamicConfig).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${v}`]);
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: stackEnv().TEMPORAL_CLI! },
      searchAttributes: Object.values(searchAttributes),
      extraArgs: [...TEMPORAL_DEV_DYNAMIC_CONFIG, ...dynamic, '--log-level', 'error'],
    },
  });
}

export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: stackEnv().TEMPORAL_TEST_SERVER! } },
  });
  // The test server takes custom search attributes through the operator API.
  const kinds = { Keyword: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, Int: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT };
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => [name, kinds[type]])),
  });
  return env;
}

export function runInput(overrides: Partial<RunInput> = {}): RunInput {
  const id = `run_${Math.random().toString(36).slice(2).padEnd(26, '0').slice(0, 26)}`;
  return {
    runId: id, userId: 'u1', prompt: 'p', creditReservation: 100, provider: 'offline', requireApproval: false, priority: 3,
    limits: { maxIterations: 50, activationTimeoutMs: 600_000, approvalTimeoutMs: 3_600_000, humanReplyTimeoutMs: 3_600_000, approvalTools: [] },
    ...overrides,
  };
}

export interface FakeOptions {
  plans: Plan[];
  /** Decides a step's outcome; default: ok. */
  step?: (step: PlanStep, index: number) => Partial<StepResult> | Promise<Partial<StepResult>>;
  decisions?: SupervisorDecision[];
  /** Credits the run may spend (or hold) before charges and holds are refused with budget_exhausted. */
  budget?: number;
  reserveRefusal?: CreditResult;
  /** The plan call never answers (until it is cancelled). */
  planHangs?: boolean;
  /** The plan call fails for good with this reason (an LlmRequestRejected, as a prompt the planner cannot read). */
  planRefusal?: string;
  /** closeRun (settle, record, `end`) waits for this before it does its work. */
  closeRunWaits?: Promise<void>;
}

export interface Recorded {
  calls: { name: string; input: unknown }[];
  events: RunEvent[];
  statuses: string[];
  charged: number;
}

export function fakeActivities(o: FakeOptions): { activities: Activities; rec: Recorded } {
  const rec: Recorded = { calls: [], events: [], statuses: [], charged: 0 };
  let budget = o.budget ?? 1_000_000;
  const holds = new Map<string, number>();
  const plans = [...o.plans];
  const decisions = [...(o.decisions ?? [])];
  const zero = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };
  const call = (name: string, input: unknown) => rec.calls.push({ name, input });
  const ok = (extra: Record<string, number> = {}): CreditResult => ({ ok: true, replayed: false, available: 0, reserved: 0, ...extra });
  const activities = {
    async plan(input: { provider: string }) {
      call('plan', input);
      if (o.planRefusal) throw ApplicationFailure.nonRetryable(o.planRefusal, 'LlmRequestRejected');
      if (o.planHangs) {
        const ctx = Context.current();
        const beat = setInterval(() => ctx.heartbeat(), 200);
        await ctx.cancelled.finally(() => clearInterval(beat));
      }
      return { plan: plans.shift() ?? { summary: 'empty', steps: [] }, usage: input.provider === 'offline' ? zero : { ...zero, inputTokens: 1500 }, transcriptKey: 'k' };
    },
    async supervise(input: unknown) { call('supervise', input); return { decision: decisions.shift() ?? { action: 'continue', reason: 'default' }, usage: { ...zero, inputTokens: 500 }, transcriptKey: 'k' }; },
    async publish(input: { events: RunEvent[] }) { rec.events.push(...input.events); },
    async transition(input: { status: string; eventKey: string; data?: Record<string, unknown> }) {
      rec.statuses.push(input.status);
      rec.events.push({ key: input.eventKey, type: 'status', data: { status: input.status, ...input.data } });
    },
    async runStep(input: { index: number; step: PlanStep }): Promise<StepResult> {
      call('runStep', input);
      const ctx = Context.current();
      // Cancellation reaches an activity through heartbeats; a local activity (a file step) has none, and hears it directly.
      const beat = ctx.info.isLocal ? undefined : setInterval(() => ctx.heartbeat(), 200);
      const r = await Promise.race([
        Promise.resolve(o.step?.(input.step, input.index) ?? {}),
        ctx.cancelled.then(() => { throw new CancelledFailure('cancelled'); }),
      ]).finally(() => clearInterval(beat));
      return { index: input.index, tool: input.step.tool, ok: true, summary: 'done', durationMs: 1, ...r };
    },
    async reserveCredits(input: unknown) { call('reserveCredits', input); return o.reserveRefusal ?? ok(); },
    async charge(input: { amount: number; key: string }) {
      call('charge', input);
      if (input.amount > budget) return { ok: false, reason: 'budget_exhausted', message: `needs ${input.amount}, ${budget} left`, available: 0, reserved: budget } as CreditResult;
      budget -= input.amount;
      rec.charged += input.amount;
      return ok({ run_charged: rec.charged });
    },
    async hold(input: { amount: number; key: string }) {
      call('hold', input);
      if (holds.has(input.key)) return ok({ run_charged: rec.charged });
      if (input.amount > budget) {
        return { ok: false, reason: 'budget_exhausted', message: `needs ${input.amount}, ${budget} left`, available: 0, reserved: budget, run_reserved: budget, run_charged: 0, run_held: 0 } as CreditResult;
      }
      budget -= input.amount;
      holds.set(input.key, input.amount);
      return ok({ run_charged: rec.charged });
    },
    async settleHold(input: { holdKey: string; amount: number }) {
      call('settleHold', input);
      const held = holds.get(input.holdKey) ?? 0;
      holds.delete(input.holdKey);
      const charged = Math.min(held, input.amount);
      budget += held - charged;
      rec.charged += charged;
      return ok({ run_charged: rec.charged, charged });
    },
    async runPaidStep(input: RunPaidStepInput): Promise<PaidStep> {
      call('runPaidStep', input);
      const { pay, ...stepInput } = input;
      const held = await activities.hold({ amount: pay.amount, key: pay.holdKey });
      if (!held.ok) return { paid: false, refusal: held };
      const result = await activities.runStep(stepInput);
      const charge = await activities.settleHold({ holdKey: pay.holdKey, amount: stepCredits(input.step, result) });
      return { paid: true, result, charge };
    },
    async extendReservation(input: { amount: number }) { call('extendReservation', input); budget += input.amount; return ok({ run_reserved: budget }); },
    async settleCredits(input: unknown) { call('settleCredits', input); return ok(); },
    async releaseCredits(input: unknown) { call('releaseCredits', input); return ok(); },
    async openRun(input: OpenRunInput) {
      call('openRun', input);
      // The real call's sequence (src/activities/records.ts) from these fakes.
      return openRunWith({
        open: async (r) => {
          const reserved = await activities.reserveCredits(r);
          if (reserved.ok) rec.statuses.push(r.transition.status);
          return reserved;
        },
        announce: async (_t, events) => { rec.events.push(...events); },
        record: async (t, events) => { rec.statuses.push(t.status); rec.events.push(...events); },
        plan: (r) => activities.plan(r),
      })(input);
    },
    async closeRun(input: CloseRunInput) {
      call('closeRun', input);
      await o.closeRunWaits;
      if (input.before.length > 0) await activities.publish({ events: input.before });
      if (input.credits === 'settle') await activities.settleCredits(input);
      else if (input.credits === 'release') await activities.releaseCredits(input);
      await activities.transition(input.transition);
      await activities.publish({ events: [input.end] });
    },
    async pruneWorkspaces(input: unknown) { call('pruneWorkspaces', input); return { cutoff: '', scanned: 0, deleted: 0, kept: 0, deletedWorkspaces: [] }; },
  };
  return { activities: activities, rec };
}

export const names = (rec: Recorded) => rec.calls.map((c) => c.name);
