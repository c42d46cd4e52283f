/**
 * A run's credits: its reservation (taken before it plans, settled or released at its end,
 * each once by its key), and pay before you run: a step's or an LLM call's maximum cost is
 * held against the reservation before it starts, and the hold is settled to the actual cost
 * (never more than the hold) after it. Refusals are results: the workflow decides.
 * A hold shows on the run's log as a `log` event of stream `credits`; a charge as `usage`.
 */
import type { ActivityDeps } from './deps.ts';
import type { RunEvent } from '../shared/run.ts';
import type { CreditResult } from '../store/types.ts';

export interface HoldInput {
  runId: string;
  /** The step execution the hold is for, or null for an LLM call. */
  index: number | null;
  amount: number;
  /** Upper bound of the call's billed tokens (LLM calls; checked against the daily token limit), else 0. */
  tokens: number;
  /** Idempotency key, built by the workflow. */
  key: string;
  what: string;
}

export interface SettleHoldInput {
  runId: string;
  index: number | null;
  holdKey: string;
  /** The actual cost; the charge is cut to the hold. */
  amount: number;
  tokens: number;
  chargeKey: string;
  what: string;
  /** Why the amount is not a finished step's or call's price (cancelled, failed mid-step). */
  partial?: string;
}

/** Idempotency keys of credit operations that are one per run. */
export const creditKeys = {
  reserve: (runId: string) => `reserve:${runId}`,
  /** A reset run (its epoch) closes its reservation again, under a key of its own. */
  settle: (runId: string, epoch?: string) => `settle:${runId}${epoch === undefined ? '' : `@${epoch}`}`,
  release: (runId: string, epoch?: string) => `release:${runId}${epoch === undefined ? '' : `@${epoch}`}`,
};

/** A granted hold's `log` line (stream `credits`); none for a refusal or a replayed hold. */
export function holdEvent(input: HoldInput, r: CreditResult): RunEvent | undefined {
  if (!r.ok || r.replayed) return undefined;
  return {
    key: `hold:${input.key}`, type: 'log',
    data: {
      index: input.index, stream: 'credits', text: `held ${input.amount} credit(s) for ${input.what}`,
      held: input.amount, runHeld: r.run_held, runCharged: r.run_charged, runReserved: r.run_reserved,
    },
  };
}

/** A settled hold's `usage` event; none when nothing was charged (or the settle was refused). */
export function usageEvent(input: SettleHoldInput, r: CreditResult): RunEvent | undefined {
  if (!r.ok || (r.charged ?? 0) + input.tokens <= 0) return undefined;
  return {
    key: `usage:${input.chargeKey}`, type: 'usage',
    data: {
      index: input.index, what: input.what, credits: r.charged, tokens: input.tokens, runCharged: r.run_charged, runReserved: r.run_reserved,
      ...(r.capped ? { capped: true, asked: input.amount } : {}), ...(input.partial ? { partial: input.partial } : {}),
    },
  };
}

export function creditActivities(deps: ActivityDeps) {
  return {
    /** Sets the run's credits aside. A refusal is a result, not an error: the workflow decides. */
    async reserveCredits(input: { runId: string; userId: string; amount: number }): Promise<CreditResult> {
      return deps.store.reserve(input.userId, input.runId, input.amount, creditKeys.reserve(input.runId));
    },

    /** Returns what a completed run did not use. */
    async settleCredits(input: { runId: string; epoch?: string }): Promise<CreditResult> {
      return deps.store.settle(input.runId, creditKeys.settle(input.runId, input.epoch));
    },

    /** Returns what a failed or cancelled run did not use. */
    async releaseCredits(input: { runId: string; epoch?: string }): Promise<CreditResult> {
      return deps.store.release(input.runId, creditKeys.release(input.runId, input.epoch));
    },

    /** Holds a step's or an LLM call's maximum cost before it starts, and says so on the run's log. */
    async hold(input: HoldInput): Promise<CreditResult> {
      const r = await deps.store.hold(input.runId, input.index, input.amount, input.tokens, input.key);
      const event = holdEvent(input, r);
      if (event) await deps.events.append(input.runId, [event]);
      return r;
    },

    /** Settles a hold to the actual cost (at most the hold) and says what was charged on the run's log. */
    async settleHold(input: SettleHoldInput): Promise<CreditResult> {
      const r = await deps.store.settleHold(input.holdKey, input.amount, input.tokens, input.chargeKey);
      const event = usageEvent(input, r);
      if (event) await deps.events.append(input.runId, [event]);
      return r;
    },
  };
}
