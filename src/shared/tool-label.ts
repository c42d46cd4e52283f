/**
 * The name a step's tool goes by in approvals (APPROVAL_TOOLS), breakers and the log:
 * the tool itself, or `mcp:<server>.<tool>` for a connector. Pure and free of zod, so
 * the workflow's plan gate can use it.
 */
import type { PlanStep } from './run.ts';

export function toolLabel(step: PlanStep): string {
  return step.tool === 'mcp' ? `mcp:${step.server}.${step.name}` : step.tool;
}

/**
 * Whether APPROVAL_TOOLS names this step: its tool (`shell`, `mcp` for every connector),
 * or for a connector `mcp:<server>` (all its tools) or `mcp:<server>.<tool>`.
 */
export function needsApproval(step: PlanStep, approvalTools: readonly string[]): boolean {
  if (approvalTools.includes(step.tool)) return true;
  return step.tool === 'mcp' && (approvalTools.includes(`mcp:${step.server}`) || approvalTools.includes(toolLabel(step)));
}
