/**
 * The approval gate's pure rules: which plan changes need a human, and what a
 * step's time limit is once the plan's own `timeoutMs` is held to the maximum.
 * Deterministic (the workflow calls them on every plan change). Also what the `running`
 * transition after a new plan records.
 */
import { stepTimeoutMs } from './pricing.ts';
import type { StepTimeLimits } from './pricing.ts';
import type { Plan, PlanStep } from './run.ts';
import { needsApproval, toolLabel } from './tool-label.ts';

export interface GateRules {
  /** Tools whose new steps need approval (APPROVAL_TOOLS). */
  approvalTools: readonly string[];
  /** The run asked for approval: every plan change needs it. */
  requireApproval: boolean;
}

/** A change of the plan: the first plan, a supervisor's retry with a new step, or a replan. */
export interface PlanChange {
  kind: 'plan' | 'retry' | 'replan';
  before: readonly PlanStep[];
  after: readonly PlanStep[];
}

const same = (a: PlanStep, b: PlanStep) => JSON.stringify(a) === JSON.stringify(b);

/** Steps of `after` that are not already in `before` (compared whole: a changed argv is a new step). */
export function newSteps(change: PlanChange): PlanStep[] {
  return change.after.filter((s) => !change.before.some((b) => same(s, b)));
}

/** The tools (by label: mcp:<server>.<tool> for a connector) of `steps` that APPROVAL_TOOLS names. */
const gatedTools = (steps: readonly PlanStep[], rules: GateRules) => [...new Set(steps.filter((s) => needsApproval(s, rules.approvalTools)).map(toolLabel))];

/** Why the change needs approval, or undefined when it does not. */
export function approvalReason(change: PlanChange, rules: GateRules): string | undefined {
  if (change.kind === 'plan') {
    const gated = gatedTools(change.after, rules);
    if (rules.requireApproval) return 'the run asks for approval of its plan';
    return gated.length > 0 ? `the plan uses ${gated.join(', ')}` : undefined;
  }
  const added = newSteps(change);
  const who = change.kind === 'retry' ? 'the supervisor\'s retry' : 'the new plan';
  if (rules.requireApproval) {
    const changed = added.length > 0 || change.after.length !== change.before.length;
    return changed ? `${who} changes the plan (the run asks for approval of every plan change)` : undefined;
  }
  const gated = gatedTools(added, rules);
  return gated.length > 0 ? `${who} adds ${gated.join(', ')} step(s)` : undefined;
}

/**
 * What the `running` transition that follows a new plan records: its event's data (the plan's
 * summary and tools) and the record's field (the whole plan). Built here for both callers: the
 * workflow (planning.ts) and the call that opens an offline run with its plan (openRun).
 */
export function runningWithPlan(plan: Plan): { data: { plan: { summary: string; steps: string[] } }; fields: { plan: Plan } } {
  return { data: { plan: { summary: plan.summary, steps: plan.steps.map((step) => step.tool) } }, fields: { plan } };
}

/** A step whose time limit was cut to the maximum. */
export interface ClampedTimeout { index: number; askedMs: number; timeoutMs: number }

/** The `gate` log line saying that `what` (a step, e.g. `plan step 2`) had its time limit cut. */
export function clampNotice(what: string, c: ClampedTimeout): Record<string, unknown> {
  return { stream: 'gate', text: `${what}: timeoutMs ${c.askedMs} is above the maximum of ${c.timeoutMs}; cut to ${c.timeoutMs}`, ...c };
}

/**
 * Gives every shell and code step its effective time limit (so what is held, approved and
 * run agree) and cuts a `timeoutMs` above the maximum down to it, saying which.
 */
export function withTimeLimits(steps: readonly PlanStep[], limits: StepTimeLimits): { steps: PlanStep[]; clamped: ClampedTimeout[] } {
  const clamped: ClampedTimeout[] = [];
  const out = steps.map((step, index) => {
    const timeoutMs = stepTimeoutMs(step, limits);
    if (timeoutMs === undefined || (step.tool !== 'shell' && step.tool !== 'code')) return step;
    if (step.timeoutMs !== undefined && step.timeoutMs > timeoutMs) clamped.push({ index, askedMs: step.timeoutMs, timeoutMs });
    return { ...step, timeoutMs };
  });
  return { steps: out, clamped };
}
