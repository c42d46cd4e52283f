/**
 * AgentRun's step loop: before each step, pause when asked, check the activation
 * timeout and the iteration limit, and say when to continue as new; run the step
 * paid through the gates; follow the supervisor (continue, retry with a changed
 * step, ask a human, replan, finish).
 */
import { workflowInfo } from '@temporalio/workflow';
import { RunEnded } from './context.ts';
import type { RunContext } from './context.ts';
import type { Gates } from './gates.ts';
import type { Planner } from './planning.ts';
import { noteRecordEpoch } from './state.ts';
import { toolStep } from './proxies.ts';
import { toolLabel } from '../shared/tool-label.ts';

/** Steps per workflow execution before continuing as new (history stays far below Temporal's warning limits). */
export const STEPS_PER_EXECUTION = 100;
/** Recent step results kept in workflow state (older ones live in the workspace and the database). */
const RECENT_STEPS = 20;

/** Runs the plan's steps until it is done, or until this execution should continue as new. */
export async function runSteps(run: RunContext, gates: Gates, planner: Planner): Promise<'done' | 'continue-as-new'> {
  const { input, s } = run;
  const { limits } = input;

  const maybePause = async () => {
    if (!s.paused) return;
    await run.transition('paused', { actor: s.pausedBy });
    await run.waitFor(() => !s.paused, 365 * 24 * 3600 * 1000);
    await run.transition('running', { actor: s.resumedBy });
  };

  const checkActivation = () => {
    const activeMs = Date.now() - s.startedAtMs - s.waitedMs;
    if (activeMs > limits.activationTimeoutMs) {
      throw new RunEnded('failed', 'activation_timeout', `the run worked for ${Math.round(activeMs / 1000)} s, over its ${limits.activationTimeoutMs / 1000} s limit`);
    }
  };

  // Retries of a step (with changes) and replans come from the supervisor.
  let attempt = 1;
  while (s.plan && s.nextIndex < s.plan.steps.length) {
    await run.announceDirectMessages();
    await maybePause();
    checkActivation();
    if (s.stepsThisExecution >= STEPS_PER_EXECUTION || workflowInfo().continueAsNewSuggested) return 'continue-as-new';
    const plan = s.plan;
    if (s.state.iterations >= limits.maxIterations) {
      throw new RunEnded('failed', 'max_iterations', `the run reached MAX_ITERATIONS (${limits.maxIterations}) with ${plan.steps.length - s.nextIndex} step(s) left`);
    }
    const planIndex = s.nextIndex;
    const step = plan.steps[planIndex]!;
    const exec = s.state.iterations++;
    s.stepsThisExecution += 1;
    s.state.currentStep = planIndex;
    const stepInput = { runId: input.runId, userId: input.userId, index: exec, planIndex, workspaceId: input.workspaceId, step };
    const activity = run.proxy(toolStep(`step ${exec}: ${toolLabel(step)}`, step.tool, run.localFileSteps));
    const result = noteRecordEpoch(s.state, await gates.payStep(exec, step, { run: () => activity.runStep(stepInput), runPaid: (pay) => activity.runPaidStep({ ...stepInput, pay }) }));
    s.state.steps = [...s.state.steps.slice(-(RECENT_STEPS - 1)), result];
    if (result.ok) s.state.completedSteps += 1;

    const isLast = planIndex === plan.steps.length - 1;
    let decision = await planner.supervise(exec, step, result, attempt, isLast);
    while (decision.action === 'ask_human') {
      await gates.awaitAnswer(decision.question);
      decision = await planner.supervise(exec, step, result, attempt, isLast);
    }
    if (input.provider !== 'offline' || decision.action !== 'continue') {
      const said = { stream: 'supervisor', index: exec, decision: decision.action, reason: decision.reason };
      // The run ends next: its closing call says it (one round trip fewer).
      if (decision.action === 'finish' && run.oneCallEnds) s.closing.push(run.event('log', said));
      else await run.emit('log', said);
    }
    switch (decision.action) {
      case 'continue':
        s.nextIndex += 1;
        attempt = 1;
        break;
      case 'retry':
        if (decision.step) {
          const [changed] = await gates.limitTimes([decision.step], () => `retry of step ${exec}`);
          await gates.approvePlanChange({ kind: 'retry', before: plan.steps, after: [changed!] },
            { change: { kind: 'retry', planIndex, reason: decision.reason, before: [plan.steps[planIndex]], after: [changed] } });
          s.plan = { ...plan, steps: plan.steps.map((p, i) => (i === planIndex ? changed! : p)) };
        }
        attempt += 1;
        break;
      case 'replan':
        await planner.replan(decision.reason);
        attempt = 1;
        break;
      case 'finish':
        if (decision.outcome === 'failed') {
          throw new RunEnded('failed', result.ok ? 'SupervisorFailed' : 'StepFailed', result.ok ? decision.reason : `step ${exec} (${step.tool}) failed: ${result.summary}`);
        }
        s.nextIndex = plan.steps.length;
        break;
    }
  }
  return 'done';
}
