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

/** `temporal workflow signal --name approve --input '{"approved":true,"comment":"ok"}'` */
export interface ApproveSignal { approved: boolean; comment?: string; extraCredits?: number }
export const approveSignal = defineSignal<[ApproveSignal]>('approve');
export const pauseSignal = defineSignal<[{ reason?: string }?]>('pause');
export const resumeSignal = defineSignal<[]>('resume');
/** A message from a human: an answer to the supervisor's question, or guidance for what follows. */
export interface MessageSignal { text: string }
export const messageSignal = defineSignal<[MessageSignal]>('message');

export const searchAttributes = {
  agentStatus: defineSearchAttributeKey('AgentStatus', SearchAttributeType.KEYWORD),
  userId: defineSearchAttributeKey('UserId', SearchAttributeType.KEYWORD),
  priority: defineSearchAttributeKey('AgentPriority', SearchAttributeType.INT),
};
