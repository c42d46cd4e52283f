/**
 * The audit trail of control actions: before the API acts on a run (approve, reject,
 * pause, resume, message, cancel, retry) it records who does it in `agent_audit`, and
 * actions the workflow announces no event for (cancel, message) also get a `log` event
 * `{stream: "control", action, actor}` on the run's event log. Signals carry the actor
 * into the workflow, which puts it on the events they cause (the approval answer, the
 * `paused` and following `running` status). An action that cannot be recorded is not taken.
 */
import type { Logger } from 'pino';
import { Unavailable } from './errors.ts';
import type { EventLog } from '../infra/event-log.ts';
import type { AuditAction, AuditEntryInput, Store } from '../store/types.ts';

/** Who acts: the authenticated caller. */
export interface Actor {
  id: string;
  kind: AuditEntryInput['actorKind'];
}

/** The control event's stream name on the run's log. */
export const CONTROL_STREAM = 'control';
/** Actions that get an event from the API (the workflow announces the others itself, with their actor). */
const API_EVENT_ACTIONS: ReadonlySet<AuditAction> = new Set(['cancel', 'message']);

export interface AuditDeps {
  store: Store;
  events?: EventLog;
  log: Logger;
}

/**
 * Records `action` on run `runId` (owned by `ownerId`) by `actor`; Unavailable when the database
 * cannot take the row (the action is then not taken).
 */
export async function recordControl(deps: AuditDeps, runId: string, ownerId: string, actor: Actor, action: AuditAction, detail: Record<string, unknown> = {}): Promise<number> {
  let row: { id: number; created_at: string };
  try {
    row = await deps.store.recordAudit({ runId, userId: ownerId, actor: actor.id, actorKind: actor.kind, action, detail });
  } catch (err) {
    throw new Unavailable('the database (audit trail)', err);
  }
  if (API_EVENT_ACTIONS.has(action) && deps.events) {
    // The row is the record; the event is the run's log of it. A Redis outage loses only the event.
    await deps.events.append(runId, [{ key: `audit:${row.id}`, type: 'log', data: { stream: CONTROL_STREAM, action, actor: actor.id, at: row.created_at } }])
      .catch((err: unknown) => deps.log.warn({ err, runId, action }, 'could not put a control action on the run log; it is in agent_audit'));
  }
  return row.id;
}
