/**
 * AgentRun's LLM calls, each paid through the gates: the plan (first, and again
 * when the supervisor asks for a new one, each gated for approval) and the
 * supervisor's review of a step. The offline provider's supervisor is a pure rule.
 */
import type { OpenPlan } from '../activities/index.ts';
import type { Plan, PlanStep, StepResult } from '../shared/run.ts';
import { offlineDecision } from '../shared/offline-supervisor.ts';
import { runningWithPlan } from '../shared/plan-gate.ts';
import type { SupervisorDecision } from '../shared/supervisor.ts';
import type { RunContext } from './context.ts';
import type { Gates, Opened } from './gates.ts';
import { llmCall, localActs } from './proxies.ts';

export function createPlanner(run: RunContext, gates: Gates) {
  const { input, s } = run;
  const { runId, userId } = input;

  const makePlan = async (previous?: { results: StepResult[]; reason: string }): Promise<Plan> => {
    if (!previous && input.plan) return input.plan; // a fork: the rest of its parent's plan
    const callId = s.llmCalls++;
    const what = previous ? 'replan' : 'plan';
    const request = {
      runId, userId, prompt: input.prompt, promptRef: input.promptRef, callId, provider: input.provider, messages: [...s.messages],
      previous: previous && s.plan ? { plan: s.plan, ...previous } : undefined,
    };
    const r = await gates.payLlm(what, callId, request, () => run.proxy(run.localOfflinePlan ? localActs : llmCall(what)).plan(request));
    return { ...r.plan, steps: await gates.limitTimes(r.plan.steps, (c) => `${what} step ${c.index}`) };
  };

  /** `plan` as the run's plan, to run from its first step. */
  const adopt = (plan: Plan) => {
    s.plan = plan;
    s.state.plan = plan;
    s.nextIndex = 0;
  };
  const approveFirst = (plan: Plan) => gates.approvePlanChange({ kind: 'plan', before: [], after: plan.steps }, { plan: { summary: plan.summary, steps: plan.steps } });

  /** Plans, records the plan and waits for its approval when it needs one (`planning` recorded already when the run opened with it). */
  const planAndApprove = async (reason?: string, planningRecorded = false) => {
    if (!planningRecorded) await run.transition('planning', reason === undefined ? {} : { reason });
    const before = s.plan?.steps ?? [];
    adopt(await makePlan(reason === undefined ? undefined : { results: s.state.steps, reason }));
    const plan = s.plan!;
    const running = runningWithPlan(plan);
    await run.transition('running', running.data, running.fields);
    if (reason === undefined) await approveFirst(plan);
    else await gates.approvePlanChange({ kind: 'replan', before, after: plan.steps }, { change: { kind: 'replan', reason, before, after: plan.steps } });
  };

  return {
    /**
     * What the call that opens the run needs to make its first plan too (gates.reserve):
     * an offline run that is not a fork, whose plan is a pure reading of its prompt.
     */
    opening(): (() => OpenPlan) | undefined {
      if (!run.openWithPlan || input.plan) return undefined;
      return () => {
        const callId = s.llmCalls++;
        const request = { runId, userId, prompt: input.prompt, promptRef: input.promptRef, callId, provider: input.provider, messages: [...s.messages] };
        return { request, timeLimits: gates.timeLimits, runningKey: run.nextKey() };
      };
    },
    /** The run's first plan: made when it opened (`opened.plan`, `running` recorded), else now. */
    async first(opened: Opened): Promise<void> {
      if (!opened.plan) return planAndApprove(undefined, opened.planningRecorded);
      adopt(opened.plan);
      await approveFirst(opened.plan);
    },
    /** A new plan, the supervisor having said why; the run starts it from its first step. */
    replan: (reason: string) => planAndApprove(reason),

    /** The supervisor's decision after a step (an LLM call, or the offline rule). */
    async supervise(index: number, step: PlanStep, result: StepResult, attempt: number, isLast: boolean): Promise<SupervisorDecision> {
      if (input.provider === 'offline') return offlineDecision(result, isLast);
      const callId = s.llmCalls++;
      const request = {
        runId, userId, prompt: input.prompt, promptRef: input.promptRef, callId, provider: input.provider, plan: s.plan!, index, step, result, attempt, isLast, messages: [...s.messages],
      };
      const r = await gates.payLlm(`supervise step ${index}`, callId, request, () => run.proxy(llmCall(`supervise step ${index}`)).supervise(request));
      return r.decision;
    },
  };
}

export type Planner = ReturnType<typeof createPlanner>;
