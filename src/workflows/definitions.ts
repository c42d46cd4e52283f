/** AgentRun's signals, queries and search-attribute keys: defined once, used by workflow, API, CLI docs and tests. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { DIRECT_ACTOR, SEARCH_ATTRIBUTES } from '../shared/names.ts';
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
export { DIRECT_ACTOR };
/** The sender a signal names (the API sets it), else DIRECT_ACTOR. */
export const actorOf = (s: Actor | undefined): string => (typeof s?.actor === 'string' && s.actor.length > 0 ? s.actor.slice(0, 200) : DIRECT_ACTOR);

/** `temporal workflow signal --name approve --input '{"approved":true,"comment":"ok"}'` */
export interface ApproveSignal extends Actor { approved: boolean; comment?: string; extraCredits?: number }
export const approveSignal = defineSignal<[ApproveSignal]>('approve');
export const pauseSignal = defineSignal<[({ reason?: string } & Actor)?]>('pause');
export const resumeSignal = defineSignal<[Actor?]>('resume');
/** A message from a human: an answer to the supervisor's question, or guidance for what follows. */
export interface MessageSignal extends Actor { text: string }
export const messageSignal = defineSignal<[MessageSignal]>('message');

const SEARCH_ATTRIBUTE_TYPES = { Keyword: SearchAttributeType.KEYWORD, Int: SearchAttributeType.INT } as const;
/** A typed key of one of the custom search attributes (their names and types are in shared/names.ts). */
const searchAttributeKey = <N extends keyof typeof SEARCH_ATTRIBUTES>(name: N) =>
  defineSearchAttributeKey(name, SEARCH_ATTRIBUTE_TYPES[SEARCH_ATTRIBUTES[name]]);
export const searchAttributes = {
  agentStatus: searchAttributeKey('AgentStatus'),
  userId: searchAttributeKey('UserId'),
  priority: searchAttributeKey('AgentPriority'),
};
