/**
 * Workflows: the deterministic orchestration of a run (AgentRun: its state, gates,
 * planning, step loop, signals and end) and the workspace retention sweep. Every
 * side effect is an activity; this folder imports only src/shared (and activity
 * types). This file is the bundle entry: every workflow the worker registers.
 */
export { AgentRun } from './agent-run.ts';
export { WorkspaceRetention } from './workspace-retention.ts';
