/**
 * AgentRun's gates: human approval (of a plan, of every plan change that needs
 * it, of more budget) and pay-before-you-run credit holds. Workflow code: every
 * side effect goes through the activities it is given.
 */
import type { Activities } from '../activities/index.ts';
import { llmCredits, llmMaxCost, partialLlmCredits, partialStepCredits, stepCredits, stepMaxCredits, utf8Bytes } from '../shared/pricing.ts';
import type { TokenUsage } from '../shared/pricing.ts';
import { approvalReason, withTimeLimits } from '../shared/plan-gate.ts';
import type { ClampedTimeout, PlanChange } from '../shared/plan-gate.ts';
import type { EventType, PlanStep, RunInput, RunState, RunStatus, StepResult } from '../shared/run.ts';
import type { ApproveSignal } from './definitions.ts';
import { DIRECT_ACTOR } from './definitions.ts';

/**
 * Patch id of pay-before-run holds, re-approval of plan changes and step time limits:
 * histories recorded before them replay down the old path (charged after each step).
 */
export const PAY_BEFORE_RUN = 'pay-before-run';

/** The sender a signal names (the API sets it), else DIRECT_ACTOR. */
export const actorOf = (s: { actor?: unknown } | undefined): string => (typeof s?.actor === 'string' && s.actor.length > 0 ? s.actor.slice(0, 200) : DIRECT_ACTOR);

/** Ends the run with a status and a reason. */
export class RunEnded extends Error {
  readonly status: 'failed' | 'cancelled';
  readonly code: string;
  constructor(status: 'failed' | 'cancelled', code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

type CreditActs = Pick<Activities, 'hold' | 'settleHold' | 'charge' | 'extendReservation'>;

export interface GateContext {
  input: RunInput;
  state: RunState;
  acts: CreditActs;
  emit: (type: EventType, data: Record<string, unknown>) => Promise<void>;
  transition: (status: RunStatus, data?: Record<string, unknown>) => Promise<void>;
  /** Waits for a human with the clock of active work stopped. */
  waitFor: (until: () => boolean, timeoutMs: number) => Promise<boolean>;
  /** Approvals so far (carried across continue-as-new; extension keys use it). */
  approvals: number;
  /** Holds, re-approval and time limits apply (false only when replaying a history recorded before them). */
  payFirst: boolean;
}

/** Usage counted as the ledger's tokens. */
const tokensOf = (u: TokenUsage) => u.inputTokens + u.outputTokens + u.cacheReadTokens + u.cacheWriteTokens;

/** What a hold is for: one step execution, or one LLM call. */
export interface HoldRequest {
  index: number | null;
  amount: number;
  tokens: number;
  key: string;
  chargeKey: string;
  what: string;
  /** The step held for (a step cancelled or failed mid-way is charged for the time it ran). */
  step?: PlanStep;
}
interface OpenHold extends HoldRequest { startedAtMs: number }

export function createGates(ctx: GateContext) {
  const { input, state, acts } = ctx;
  const runId = input.runId;
  const limits = input.limits;
  // Runs started before these limits were copied into their input get the schema's bounds.
  const timeLimits = { defaultMs: limits.shellTimeoutMs ?? 60_000, maxMs: limits.shellTimeoutMaxMs ?? limits.shellTimeoutMs ?? 3_600_000 };
  let pending: ApproveSignal | undefined;
  let open: OpenHold | undefined;

  /** Waits for `approve`; a rejection or the timeout cancels the run. */
  const awaitApproval = async (kind: 'approval' | 'budget', detail: string, extra: Record<string, unknown> = {}): Promise<ApproveSignal> => {
    pending = undefined;
    state.waitingFor = { kind, detail };
    await ctx.transition('awaiting_approval', { waitingFor: state.waitingFor });
    await ctx.emit('approval', { kind, detail, ...extra });
    const got = await ctx.waitFor(() => pending !== undefined, input.limits.approvalTimeoutMs);
    state.waitingFor = undefined;
    if (!got) throw new RunEnded('cancelled', 'approval_timeout', `no approval within ${input.limits.approvalTimeoutMs / 1000} s (${detail})`);
    const decision = pending!;
    pending = undefined;
    ctx.approvals += 1;
    await ctx.emit('approval', { kind, approved: decision.approved, comment: decision.comment ?? null, actor: actorOf(decision) });
    if (!decision.approved) throw new RunEnded('cancelled', 'rejected', decision.comment ? `rejected: ${decision.comment}` : 'rejected by an operator');
    await ctx.transition('running');
    return decision;
  };

  /** Adds approved credits to the reservation: the approver's amount, else a run's worth (at least `atLeast`). */
  const extend = async (approval: ApproveSignal, atLeast: number) => {
    const extra = approval.extraCredits && approval.extraCredits > 0 ? Math.floor(approval.extraCredits) : Math.max(atLeast, input.creditReservation);
    const ext = await acts.extendReservation({ runId, amount: extra, key: `extend:${runId}:${ctx.approvals}` });
    if (!ext.ok) throw new RunEnded('failed', ext.reason, ext.message);
    state.creditsReserved = ext.run_reserved ?? state.creditsReserved + extra;
  };

  /**
   * Holds the request's maximum cost before it starts. When the run's budget cannot hold it,
   * waits for a human to add credits (kind `budget`); nothing runs meanwhile, and a rejection
   * cancels the run with the step unrun.
   */
  const hold = async (req: HoldRequest): Promise<void> => {
    for (;;) {
      const r = await acts.hold({ runId, index: req.index, amount: req.amount, tokens: req.tokens, key: req.key, what: req.what });
      if (r.ok) {
        open = { ...req, startedAtMs: Date.now() };
        return;
      }
      if (r.reason !== 'budget_exhausted') throw new RunEnded('failed', r.reason, r.message);
      const left = (r.run_reserved ?? state.creditsReserved) - (r.run_charged ?? state.creditsCharged) - (r.run_held ?? 0);
      const approval = await awaitApproval('budget', `${req.what} needs ${req.amount} credit(s) up front; the run has ${left} left`,
        { needed: req.amount, left });
      await extend(approval, req.amount - left);
    }
  };

  /** Charges after the fact (runs recorded before holds existed): waits for approval to extend instead of overspending. */
  const chargeUnheld = async (index: number | null, amount: number, tokens: number, chargeKey: string, what: string): Promise<void> => {
    for (;;) {
      const r = await acts.charge({ runId, index, amount, tokens, key: chargeKey, what });
      if (r.ok) {
        state.creditsCharged = r.run_charged ?? state.creditsCharged + amount;
        return;
      }
      if (r.reason !== 'budget_exhausted') throw new RunEnded('failed', r.reason, r.message);
      const approval = await awaitApproval('budget', r.message, { needed: amount });
      await extend(approval, 0);
    }
  };

  /** Settles the open hold to the actual cost (the charge never exceeds the hold). */
  const settle = async (amount: number, tokens: number, partial?: string): Promise<void> => {
    const h = open;
    if (!h) return;
    const r = await acts.settleHold({ runId, index: h.index, holdKey: h.key, amount, tokens, chargeKey: h.chargeKey, what: h.what, partial });
    open = undefined;
    if (!r.ok) throw new RunEnded('failed', r.reason, r.message);
    state.creditsCharged = r.run_charged ?? state.creditsCharged + Math.min(amount, h.amount);
  };

  return {
    awaitApproval,
    get approvals() { return ctx.approvals; },
    receive(a: ApproveSignal) { pending = a; },

    /** A plan change that adds a gated step (or any change, when the run asked for approval) waits for a human. */
    async approvePlanChange(change: PlanChange, extra: Record<string, unknown>): Promise<void> {
      const reason = approvalReason(change, { approvalTools: input.limits.approvalTools, requireApproval: input.requireApproval });
      if (reason !== undefined) await awaitApproval('approval', reason, extra);
    },

    /**
     * A run ending with a hold open pays for what was used: a step for the time it ran; an LLM
     * call cancelled mid-way one credit, one the provider refused (the activity failed) nothing.
     */
    async settleOpen(cancelled: boolean): Promise<void> {
      const h = open;
      if (!h) return;
      const amount = h.step ? partialStepCredits(h.step, Date.now() - h.startedAtMs, h.amount) : cancelled ? partialLlmCredits(h.amount) : 0;
      await settle(amount, 0, cancelled ? 'cancelled mid-way' : 'failed mid-way');
    },

    /** Runs a step paid before it starts: held at its maximum cost, settled to its actual cost. */
    async payStep(exec: number, step: PlanStep, run: () => Promise<StepResult>): Promise<StepResult> {
      const what = `step ${exec} (${step.tool})`;
      const chargeKey = `charge:${runId}:${exec}`;
      if (!ctx.payFirst) {
        const result = await run();
        await chargeUnheld(exec, stepCredits(step, result), 0, chargeKey, what);
        return result;
      }
      await hold({ index: exec, amount: stepMaxCredits(step, timeLimits), tokens: 0, key: `hold:${runId}:${exec}`, chargeKey, what, step });
      const result = await run();
      await settle(stepCredits(step, result), 0);
      return result;
    },

    /**
     * One LLM call, paid before it runs: its maximum cost (max_tokens plus its input, bounded by
     * the request's size) is held, then settled to the usage. The offline provider costs nothing.
     */
    async payLlm<R extends { usage: TokenUsage }>(what: string, callId: number, request: object, call: () => Promise<R>): Promise<R> {
      const chargeKey = `charge:${runId}:llm:${callId}`;
      if (!ctx.payFirst || input.provider === 'offline') {
        const r = await call();
        const credits = llmCredits(r.usage);
        if (credits > 0 || tokensOf(r.usage) > 0) await chargeUnheld(null, credits, tokensOf(r.usage), chargeKey, what);
        return r;
      }
      const promptBytes = input.promptRef ? (input.promptBytes ?? 4 * 1_000_000) : 0;
      const max = llmMaxCost({ maxTokens: limits.llmMaxTokens ?? 64_000, inputBytes: utf8Bytes(JSON.stringify(request)) + promptBytes });
      await hold({ index: null, amount: max.credits, tokens: max.tokens, key: `hold:${runId}:llm:${callId}`, chargeKey, what });
      const r = await call();
      await settle(llmCredits(r.usage), tokensOf(r.usage));
      return r;
    },

    /** Shell and code steps get their effective time limit; one asked above the maximum is cut, and the log says so. */
    async limitTimes(steps: PlanStep[], label: (c: ClampedTimeout) => string): Promise<PlanStep[]> {
      if (!ctx.payFirst) return steps;
      const r = withTimeLimits(steps, timeLimits);
      for (const c of r.clamped) {
        await ctx.emit('log', { stream: 'gate', text: `${label(c)}: timeoutMs ${c.askedMs} is above the maximum of ${c.timeoutMs}; cut to ${c.timeoutMs}`, ...c });
      }
      return r.steps;
    },
  };
}

export type Gates = ReturnType<typeof createGates>;
