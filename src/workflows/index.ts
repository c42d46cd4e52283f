/** Workflow bundle entry: every workflow the worker registers. */
export { AgentRun } from './agent-run.ts';
export { WorkspaceRetention } from './workspace-retention.ts';
