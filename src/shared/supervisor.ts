/**
 * Supervisor decisions: what happens after each step. The schema validates what
 * a model returns; the offline provider's deterministic supervisor is
 * ./offline-supervisor.ts (zod-free, for workflow code).
 */
import { z } from 'zod';
import { planStep } from './run.ts';

export const supervisorDecision = z.discriminatedUnion('action', [
  z.object({ action: z.literal('continue'), reason: z.string().max(2000) }),
  z.object({ action: z.literal('retry'), reason: z.string().max(2000), step: planStep.optional() }),
  z.object({ action: z.literal('replan'), reason: z.string().max(2000) }),
  z.object({ action: z.literal('finish'), reason: z.string().max(2000), outcome: z.enum(['completed', 'failed']) }),
  z.object({ action: z.literal('ask_human'), reason: z.string().max(2000), question: z.string().min(1).max(2000) }),
]);
export type SupervisorDecision = z.infer<typeof supervisorDecision>;
