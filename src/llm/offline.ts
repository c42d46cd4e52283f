/** The offline provider: deterministic planning from the prompt syntax, and the offline supervisor. No network. */
import { planFromPrompt, PromptSyntaxError } from '../shared/offline-planner.ts';
import { offlineDecision } from '../shared/offline-supervisor.ts';
import { LlmRejectedError, ZERO_USAGE } from './types.ts';
import type { LlmProvider } from './types.ts';

export const offlineProvider: LlmProvider = {
  name: 'offline',
  async plan(req) {
    try {
      return { value: planFromPrompt(req.prompt), usage: ZERO_USAGE, transcript: { provider: 'offline' } };
    } catch (err) {
      if (err instanceof PromptSyntaxError) throw new LlmRejectedError('invalid_prompt', err.message);
      throw err;
    }
  },
  async supervise(req) {
    return { value: offlineDecision(req.result, req.isLast), usage: ZERO_USAGE, transcript: { provider: 'offline' } };
  },
};
