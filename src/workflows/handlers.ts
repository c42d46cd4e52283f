/**
 * AgentRun's queries and signals: queries read the run's state; signals write to
 * it, and the parts of the run waiting on them (pause, gates) read it back.
 */
import { setHandler } from '@temporalio/workflow';
import { MESSAGE_MAX_CHARS } from '../shared/run-limits.ts';
import type { RunInput } from '../shared/run.ts';
import {
  actorOf, approveSignal, DIRECT_ACTOR, messageSignal, pauseSignal, planQuery, progressQuery, resumeSignal, statusQuery,
} from './definitions.ts';
import { shownState } from './state.ts';
import type { AgentRunState } from './state.ts';

export function setHandlers(input: RunInput, s: AgentRunState): void {
  setHandler(statusQuery, () => shownState(s));
  setHandler(planQuery, () => s.plan ?? null);
  setHandler(progressQuery, () => ({
    status: shownState(s).status, currentStep: s.state.currentStep ?? null, plannedSteps: s.plan?.steps.length ?? 0,
    completedSteps: s.state.completedSteps, iterations: s.state.iterations, maxIterations: input.limits.maxIterations,
    creditsCharged: s.state.creditsCharged, creditsReserved: s.state.creditsReserved, waitingFor: s.state.waitingFor ?? null,
  }));
  setHandler(pauseSignal, (p) => { s.paused = true; s.pausedBy = actorOf(p); });
  setHandler(resumeSignal, (r) => { s.paused = false; s.resumedBy = actorOf(r); });
  // Messages signalled to Temporal directly (no actor) are announced on the log, so the worker audits them.
  setHandler(messageSignal, (m) => {
    if (typeof m?.text !== 'string' || m.text.length === 0) return;
    const text = m.text.slice(0, MESSAGE_MAX_CHARS);
    s.messages.push(text);
    if (actorOf(m) === DIRECT_ACTOR) s.directMessages.push(text);
  });
  setHandler(approveSignal, (a) => { s.pendingApproval = a; });
}
