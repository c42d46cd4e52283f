/**
 * Control actions that reached the workflow without the API (a signal sent to Temporal
 * directly: `temporal workflow signal`, the Web UI, another client) leave no row in
 * agent_audit at the API. Their events carry `actor: "temporal-direct"`; when such an
 * event is published, this records the action too (actor kind `temporal`), once per
 * event key however often the activity is retried; a cancellation the API did not
 * record is recorded when the run announces it ended cancelled. Who sent it is only in
 * the workflow history (the signal's or cancel request's `identity`).
 */
import type { ActivityDeps } from './deps.ts';
import type { RunEvent } from '../shared/run.ts';
import type { AuditAction } from '../store/types.ts';
import { DIRECT_ACTOR } from '../shared/names.ts';

function actionOf(e: Pick<RunEvent, 'type' | 'data'>): AuditAction | undefined {
  if (e.data.actor !== DIRECT_ACTOR) return undefined;
  if (e.type === 'approval') return e.data.approved === false ? 'reject' : 'approve';
  if (e.type === 'status') return e.data.status === 'paused' ? 'pause' : 'resume';
  if (e.type === 'log' && e.data.stream === 'control' && e.data.action === 'message') return 'message';
  return undefined;
}

/** The run's end by an operator's cancellation (Temporal cancel), as the workflow announces it. */
const isOperatorCancel = (e: Pick<RunEvent, 'type' | 'data'>) =>
  e.type === 'status' && e.data.status === 'cancelled' && (e.data.error as { code?: unknown } | undefined)?.code === 'cancelled';

export async function auditDirectSignals(deps: Pick<ActivityDeps, 'store'>, runId: string, events: readonly Pick<RunEvent, 'key' | 'type' | 'data'>[]): Promise<void> {
  const direct = events.flatMap((e) => { const action = actionOf(e); return action ? [{ e, action }] : []; });
  const cancelled = events.some(isOperatorCancel);
  if (direct.length === 0 && !cancelled) return;
  const run = await deps.store.getRun(runId);
  if (!run) return;
  // The API records a cancel before it asks Temporal; a cancellation with no such row came
  // from Temporal directly (`temporal workflow cancel`, the Web UI).
  if (cancelled && !(await deps.store.listAudit(runId)).some((r) => r.action === 'cancel')) {
    await deps.store.recordAudit({ runId, userId: run.user_id, actor: DIRECT_ACTOR, actorKind: 'temporal', action: 'cancel', detail: { via: 'temporal' }, sourceKey: `${runId}:cancel` });
  }
  for (const { e, action } of direct) {
    const detail = e.type === 'approval' ? { kind: e.data.kind, comment: e.data.comment ?? undefined, via: 'temporal' }
      : action === 'message' ? { text: e.data.text, via: 'temporal' } : { via: 'temporal' };
    await deps.store.recordAudit({ runId, userId: run.user_id, actor: DIRECT_ACTOR, actorKind: 'temporal', action, detail, sourceKey: `${runId}:${e.key}` });
  }
}
