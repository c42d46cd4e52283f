/** AgentRun's signals, queries and search-attribute keys: defined once, used by workflow, API and tests. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery } from '@temporalio/workflow';
import type { RunState } from '../shared/run.ts';

export const statusQuery = defineQuery<RunState>('status');

export const searchAttributes = {
  agentStatus: defineSearchAttributeKey('AgentStatus', SearchAttributeType.KEYWORD),
  userId: defineSearchAttributeKey('UserId', SearchAttributeType.KEYWORD),
  priority: defineSearchAttributeKey('AgentPriority', SearchAttributeType.INT),
};
