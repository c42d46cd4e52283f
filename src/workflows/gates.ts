/**
 * AgentRun's gates, working on the run's state: the credit reservation (taken
 * before planning, settled or released at the end), pay-before-you-run holds on
 * every step and LLM call, and the waits for a human — approval of a plan, of
 * every plan change that needs it, of more budget, and the supervisor's
 * questions. Workflow code: every side effect is an activity.
 */
import { llmCredits, llmMaxCost, partialLlmCredits, partialStepCredits, stepCredits, stepMaxCredits, utf8Bytes } from '../shared/pricing.ts';
import type { TokenUsage } from '../shared/pricing.ts';
import { approvalReason, clampNotice, withTimeLimits } from '../shared/plan-gate.ts';
import type { ClampedTimeout, PlanChange } from '../shared/plan-gate.ts';
import type { OpenPlan, OpenRunResult, PaidStep, StepPayment } from '../activities/index.ts';
import type { Plan, PlanStep, StepResult } from '../shared/run.ts';
import { RunEnded } from './context.ts';
import type { RunContext } from './context.ts';
import type { ApproveSignal } from './definitions.ts';
import { actorOf } from './definitions.ts';
import type { OpenHold } from './state.ts';

/** Usage counted as the ledger's tokens. */
const tokensOf = (u: TokenUsage) => u.inputTokens + u.outputTokens + u.cacheReadTokens + u.cacheWriteTokens;

/** What a hold is for: one step execution, or one LLM call. */
type HoldRequest = Omit<OpenHold, 'startedAtMs' | 'maybe'>;

/** How the run opened: whether `planning` was recorded with its reservation, and the plan when it was made there too (its `running` recorded). */
export interface Opened { planningRecorded: boolean; plan?: Plan }

/** How a step runs: on its own (paid around it), or paying for itself in the same activity. */
export interface StepRunners {
  run(): Promise<StepResult>;
  runPaid(pay: StepPayment): Promise<PaidStep>;
}

export function createGates(run: RunContext) {
  const { input, s, calls } = run;
  const { runId, limits } = input;
  // Runs started before these limits were copied into their input get the schema's bounds.
  const timeLimits = { defaultMs: limits.shellTimeoutMs ?? 60_000, maxMs: limits.shellTimeoutMaxMs ?? limits.shellTimeoutMs ?? 3_600_000 };

  /** Waits for `approve`; a rejection or the timeout cancels the run. */
  const awaitApproval = async (kind: 'approval' | 'budget', detail: string, extra: Record<string, unknown> = {}): Promise<ApproveSignal> => {
    s.pendingApproval = undefined;
    s.state.waitingFor = { kind, detail };
    await run.transition('awaiting_approval', { waitingFor: s.state.waitingFor });
    await run.emit('approval', { kind, detail, ...extra });
    const got = await run.waitFor(() => s.pendingApproval !== undefined, limits.approvalTimeoutMs);
    s.state.waitingFor = undefined;
    if (!got) throw new RunEnded('cancelled', 'approval_timeout', `no approval within ${limits.approvalTimeoutMs / 1000} s (${detail})`);
    const decision = s.pendingApproval!;
    s.pendingApproval = undefined;
    s.approvals += 1;
    await run.emit('approval', { kind, approved: decision.approved, comment: decision.comment ?? null, actor: actorOf(decision) });
    if (!decision.approved) throw new RunEnded('cancelled', 'rejected', decision.comment ? `rejected: ${decision.comment}` : 'rejected by an operator');
    await run.transition('running');
    return decision;
  };

  /** Adds approved credits to the reservation: the approver's amount, else a run's worth (at least `atLeast`). */
  const extend = async (approval: ApproveSignal, atLeast: number) => {
    const extra = approval.extraCredits && approval.extraCredits > 0 ? Math.floor(approval.extraCredits) : Math.max(atLeast, input.creditReservation);
    const ext = await calls.extendReservation({ runId, amount: extra, key: run.tag(`extend:${runId}:${s.approvals}`) });
    if (!ext.ok) throw new RunEnded('failed', ext.reason, ext.message);
    s.state.creditsReserved = ext.run_reserved ?? s.state.creditsReserved + extra;
  };

  /** A hold refused: for budget, waits for a human to add credits (a rejection cancels the run); otherwise the run fails. */
  const budgetRefused = async (req: HoldRequest, r: Extract<PaidStep, { paid: false }>['refusal']): Promise<void> => {
    if (r.reason !== 'budget_exhausted') throw new RunEnded('failed', r.reason, r.message);
    const left = (r.run_reserved ?? s.state.creditsReserved) - (r.run_charged ?? s.state.creditsCharged) - (r.run_held ?? 0);
    const approval = await awaitApproval('budget', `${req.what} needs ${req.amount} credit(s) up front; the run has ${left} left`,
      { needed: req.amount, left });
    await extend(approval, req.amount - left);
  };

  /**
   * Holds the request's maximum cost before it starts. When the run's budget cannot hold it,
   * waits for a human to add credits (kind `budget`); nothing runs meanwhile, and a rejection
   * cancels the run with the step unrun.
   */
  const hold = async (req: HoldRequest): Promise<void> => {
    for (;;) {
      const r = await calls.hold({ runId, index: req.index, amount: req.amount, tokens: req.tokens, key: req.key, what: req.what });
      if (r.ok) {
        s.openHold = { ...req, startedAtMs: Date.now() };
        return;
      }
      await budgetRefused(req, r);
    }
  };

  /** Charges after the fact (runs recorded before holds existed): waits for approval to extend instead of overspending. */
  const chargeUnheld = async (index: number | null, amount: number, tokens: number, chargeKey: string, what: string): Promise<void> => {
    for (;;) {
      const r = await calls.charge({ runId, index, amount, tokens, key: chargeKey, what });
      if (r.ok) {
        s.state.creditsCharged = r.run_charged ?? s.state.creditsCharged + amount;
        return;
      }
      if (r.reason !== 'budget_exhausted') throw new RunEnded('failed', r.reason, r.message);
      const approval = await awaitApproval('budget', r.message, { needed: amount });
      await extend(approval, 0);
    }
  };

  /** Settles the open hold to the actual cost (the charge never exceeds the hold). */
  const settle = async (amount: number, tokens: number, partial?: string): Promise<void> => {
    const h = s.openHold;
    if (!h) return;
    const r = await calls.settleHold({ runId, index: h.index, holdKey: h.key, amount, tokens, chargeKey: h.chargeKey, what: h.what, partial });
    s.openHold = undefined;
    // A step that paid for itself may have ended before it took its hold: nothing to settle.
    if (!r.ok && h.maybe && r.reason === 'no_reservation') return;
    if (!r.ok) throw new RunEnded('failed', r.reason, r.message);
    s.state.creditsCharged = r.run_charged ?? s.state.creditsCharged + Math.min(amount, h.amount);
  };

  /**
   * A run ending with a hold open pays for what was used: a step for the time it ran; an LLM
   * call cancelled mid-way one credit, one the provider refused (the activity failed) nothing.
   */
  const settleOpen = async (cancelled: boolean): Promise<void> => {
    const h = s.openHold;
    if (!h) return;
    const amount = h.step ? partialStepCredits(h.step, Date.now() - h.startedAtMs, h.amount) : cancelled ? partialLlmCredits(h.amount) : 0;
    await settle(amount, 0, cancelled ? 'cancelled mid-way' : 'failed mid-way');
  };

  return {
    /**
     * Reserves the run's credits before it plans; a refusal fails the run. With one-call ends
     * the `planning` status is recorded in the same call, and with `planWith` (an offline run's
     * first plan, planning.ts) the plan is made and the run `running` in it too.
     */
    async reserve(planWith?: () => OpenPlan): Promise<Opened> {
      const amount = input.creditReservation;
      const planning = run.oneCallEnds ? run.transitionInput('planning') : undefined;
      const plan = planning && planWith ? planWith() : undefined;
      const reservation = planning
        ? await calls.openRun({ runId, userId: input.userId, amount, transition: planning, ...(plan ? { plan } : {}) })
        : await calls.reserveCredits({ runId, userId: input.userId, amount });
      if (!reservation.ok) throw new RunEnded('failed', reservation.reason, reservation.message);
      s.reserved = true;
      s.state.creditsReserved = amount;
      const planned = (reservation as OpenRunResult).planned;
      if (planned && 'plan' in planned) {
        run.markStatus('running');
        return { planningRecorded: true, plan: planned.plan };
      }
      if (planning) run.markStatus('planning');
      if (planned) throw new RunEnded('failed', planned.refused.type, planned.refused.message);
      return { planningRecorded: planning !== undefined };
    },

    /** Shell and code steps' time limits: the default, and the most a step may ask for. */
    timeLimits,

    /** At the end: the open hold pays for what it used; the reservation is settled (completed) or released. */
    async close(): Promise<void> {
      await this.closeHold();
      const end = this.reservationEnd();
      if (end === 'settle') await calls.settleCredits({ runId });
      else if (end === 'release') await calls.releaseCredits({ runId });
    },

    /** At the end: a hold still open pays for what its step or call used. */
    async closeHold(): Promise<void> {
      if (s.reserved) await settleOpen(s.state.status === 'cancelled');
    },

    /** What becomes of the reservation at the end: settled (completed), released, or nothing (none taken). */
    reservationEnd(): 'settle' | 'release' | 'none' {
      if (!s.reserved) return 'none';
      return s.state.status === 'completed' ? 'settle' : 'release';
    },

    /**
     * A plan change that adds a gated step (or any change, when the run asked for approval) waits
     * for a human. Histories recorded before re-approval existed gate the first plan only.
     */
    async approvePlanChange(change: PlanChange, extra: Record<string, unknown>): Promise<void> {
      if (change.kind !== 'plan' && !run.payFirst) return;
      const reason = approvalReason(change, { approvalTools: limits.approvalTools, requireApproval: input.requireApproval });
      if (reason !== undefined) await awaitApproval('approval', reason, extra);
    },

    /** The supervisor asks a human: waits for a message; none within HUMAN_REPLY_TIMEOUT cancels the run. */
    async awaitAnswer(question: string): Promise<void> {
      const before = s.messages.length;
      s.state.waitingFor = { kind: 'question', detail: question };
      await run.transition('awaiting_approval', { waitingFor: s.state.waitingFor });
      await run.emit('approval', { kind: 'question', question });
      const answered = await run.waitFor(() => s.messages.length > before, limits.humanReplyTimeoutMs);
      s.state.waitingFor = undefined;
      if (!answered) throw new RunEnded('cancelled', 'human_reply_timeout', `no answer within ${limits.humanReplyTimeoutMs / 1000} s to: ${question}`);
      await run.announceDirectMessages();
      await run.transition('running');
    },

    /**
     * Runs a step paid before it starts: held at its maximum cost, settled to its actual cost —
     * inside the step's own activity (`runPaid`), or around it for histories recorded before.
     * A hold refused for budget waits for a human to add credits, then the step runs.
     */
    async payStep(exec: number, step: PlanStep, runners: StepRunners): Promise<StepResult> {
      const what = `step ${exec} (${step.tool})`;
      const chargeKey = run.tag(`charge:${runId}:${exec}`);
      if (!run.payFirst) {
        const result = await runners.run();
        await chargeUnheld(exec, stepCredits(step, result), 0, chargeKey, what);
        return result;
      }
      const req = { index: exec, amount: stepMaxCredits(step, timeLimits), tokens: 0, key: run.tag(`hold:${runId}:${exec}`), chargeKey, what, step };
      if (!run.stepPays) {
        await hold(req);
        const result = await runners.run();
        await settle(stepCredits(step, result), 0);
        return result;
      }
      for (;;) {
        // Open until the activity says otherwise: a run ending mid-step settles it (or finds it never taken).
        s.openHold = { ...req, startedAtMs: Date.now(), maybe: true };
        const r = await runners.runPaid({ amount: req.amount, holdKey: req.key, chargeKey, what });
        s.openHold = undefined;
        if (r.paid) {
          if (!r.charge.ok) throw new RunEnded('failed', r.charge.reason, r.charge.message);
          s.state.creditsCharged = r.charge.run_charged ?? s.state.creditsCharged + (r.charge.charged ?? 0);
          return r.result;
        }
        await budgetRefused(req, r.refusal);
      }
    },

    /**
     * One LLM call, paid before it runs: its maximum cost (max_tokens plus its input, bounded by
     * the request's size) is held, then settled to the usage. The offline provider costs nothing.
     */
    async payLlm<R extends { usage: TokenUsage }>(what: string, callId: number, request: object, call: () => Promise<R>): Promise<R> {
      const chargeKey = run.tag(`charge:${runId}:llm:${callId}`);
      if (!run.payFirst || input.provider === 'offline') {
        const r = await call();
        const credits = llmCredits(r.usage);
        if (credits > 0 || tokensOf(r.usage) > 0) await chargeUnheld(null, credits, tokensOf(r.usage), chargeKey, what);
        return r;
      }
      const promptBytes = input.promptRef ? (input.promptBytes ?? 4 * 1_000_000) : 0;
      const max = llmMaxCost({ maxTokens: limits.llmMaxTokens ?? 64_000, inputBytes: utf8Bytes(JSON.stringify(request)) + promptBytes });
      await hold({ index: null, amount: max.credits, tokens: max.tokens, key: run.tag(`hold:${runId}:llm:${callId}`), chargeKey, what });
      const r = await call();
      await settle(llmCredits(r.usage), tokensOf(r.usage));
      return r;
    },

    /** Shell and code steps get their effective time limit; one asked above the maximum is cut, and the log says so. */
    async limitTimes(steps: PlanStep[], label: (c: ClampedTimeout) => string): Promise<PlanStep[]> {
      if (!run.payFirst) return steps;
      const r = withTimeLimits(steps, timeLimits);
      for (const c of r.clamped) await run.emit('log', clampNotice(label(c), c));
      return r.steps;
    },
  };
}

export type Gates = ReturnType<typeof createGates>;
