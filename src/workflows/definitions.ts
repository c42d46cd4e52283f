/** AgentRun's signals, queries and search-attribute keys: defined once, used by workflow, API, CLI docs and tests. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Plan, RunState, RunStatus } from '../shared/run.ts';

export const statusQuery = defineQuery<RunState>('status');
export const planQuery = defineQuery<Plan | null>('plan');

export interface Progress {
  status: RunStatus;
  currentStep: number | null;
  plannedSteps: number;
  completedSteps: number;
  iterations: number;
  maxIterations: number;
  creditsCharged: number;
  creditsReserved: number;
  waitingFor: RunState['waitingFor'] | null;
}
export const progressQuery = defineQuery<Progress>('progress');

/**
 * Who sent a signal, as the API authenticated them (`actor` on the events the signal causes).
 * A signal sent to Temporal directly (the temporal CLI, the Web UI, another client) carries none:
 * its events say DIRECT_ACTOR, and the sender's identity is only in the workflow history.
 */
export interface Actor { actor?: string }
export const DIRECT_ACTOR = 'temporal-direct';

/** `temporal workflow signal --name approve --input '{"approved":true,"comment":"ok"}'` */
export interface ApproveSignal extends Actor { approved: boolean; comment?: string; extraCredits?: number }
export const approveSignal = defineSignal<[ApproveSignal]>('approve');
export const pauseSignal = defineSignal<[({ reason?: string } & Actor)?]>('pause');
export const resumeSignal = defineSignal<[Actor?]>('resume');
/** A message from a human: an answer to the supervisor's question, or guidance for what follows. */
export interface MessageSignal extends Actor { text: string }
export const messageSignal = defineSignal<[MessageSignal]>('message');

export const searchAttributes = {
  agentStatus: defineSearchAttributeKey('AgentStatus', SearchAttributeType.KEYWORD),
  userId: defineSearchAttributeKey('UserId', SearchAttributeType.KEYWORD),
  priority: defineSearchAttributeKey('AgentPriority', SearchAttributeType.INT),
};
