/**
 * The `runPaidStep` activity: one step paid for in the same call that runs it — its
 * maximum cost held first (a refusal comes back as the outcome, and nothing runs),
 * then the step, then the hold settled to the step's price (nothing for a step the tool's
 * breaker refused). Each part is idempotent
 * by its key (hold, step record, charge), so a retried attempt after a crash holds,
 * runs and charges nothing twice. One task-queue round trip per step instead of three.
 *
 * The store writes the hold with the step's running row (stepBegin) and the step's last row
 * with the settlement (stepFinish): two database calls per step instead of four, and the
 * hold's and the charge's lines go out with the step's own events.
 */
import { Context } from '@temporalio/activity';
import type { ActivityDeps } from './deps.ts';
import { holdEvent, usageEvent } from './credits.ts';
import { stepOutcome, stepRow } from './steps.ts';
import type { RunStepInput, StepBook } from './steps.ts';
import { stepCredits } from '../shared/pricing.ts';
import type { StepResult } from '../shared/run.ts';
import type { CreditResult } from '../store/types.ts';

type CreditRefusal = Extract<CreditResult, { ok: false }>;

/** What the workflow decided the step pays: its hold (the step's maximum cost) and the keys. */
export interface StepPayment { amount: number; holdKey: string; chargeKey: string; what: string }

export interface RunPaidStepInput extends RunStepInput { pay: StepPayment }

/** The step ran and its hold was settled (`charge`), or the hold was refused and nothing ran. */
export type PaidStep = { paid: true; result: StepResult; charge: CreditResult } | { paid: false; refusal: CreditRefusal };

export async function runPaidStep(deps: ActivityDeps, input: RunPaidStepInput): Promise<PaidStep> {
  const { pay, ...stepInput } = input;
  const { runId, index, step } = stepInput;
  const held = { runId, index, amount: pay.amount, tokens: 0, key: pay.holdKey, what: pay.what };
  const hold = await deps.store.stepBegin(stepRow(stepInput, Context.current().info.attempt), held);
  if (!hold.ok) return { paid: false, refusal: hold };
  let charge: CreditResult | undefined;
  const book: StepBook = {
    begun: true,
    // A hold already there (its key) means an earlier attempt or execution got this far.
    fresh: !hold.replayed,
    leading: [holdEvent(held, hold)].filter((e) => e !== undefined),
    // A step the tool's breaker ended (refused, or stopped when its failures opened it) costs nothing.
    async finish(row, result, refused) {
      const settle = { runId, index, holdKey: pay.holdKey, amount: refused ? 0 : stepCredits(step, result), tokens: 0, chargeKey: pay.chargeKey, what: pay.what };
      charge = await deps.store.stepFinish(row, settle);
      return [usageEvent(settle, charge)].filter((e) => e !== undefined);
    },
  };
  const { result } = await stepOutcome(deps, stepInput, book);
  return { paid: true, result, charge: charge! };
}
