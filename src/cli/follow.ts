/**
 * `agentrun run` and `agentrun logs`: start a run and follow it, or follow one. The exit
 * code is the outcome (0 completed, 1 failed, 2 cancelled). With a terminal attached an
 * approval wait asks y/n while the events go on (answered elsewhere, the question goes away);
 * Ctrl-C, at that question too, detaches after 2 s (the run goes on; the command to re-attach
 * is printed, exit 130), and a second Ctrl-C within those 2 s asks whether to cancel the run
 * instead. Lost connections and API restarts are followed through
 * (Last-Event-ID), so no line is lost or repeated.
 */
import { randomUUID } from 'node:crypto';
import { ApiError } from '../client/api.ts';
import type { ApiClient, RunStart } from '../client/api.ts';
import { followRun } from '../client/follow.ts';
import type { SseMessage } from '../client/sse.ts';
import { ask } from './prompt.ts';
import { Timeline } from './render.ts';
import type { Outcome, Terminal } from './render.ts';

/** How long after a Ctrl-C the command detaches; a second Ctrl-C inside it asks to cancel. */
const DETACH_GRACE_MS = 2000;

export const EXIT = { completed: 0, failed: 1, cancelled: 2, usage: 3, api: 4, detached: 130 } as const;

export function exitCodeOf(outcome: Outcome | undefined): number {
  if (!outcome) return EXIT.completed;
  return outcome.status === 'completed' ? EXIT.completed : outcome.status === 'cancelled' ? EXIT.cancelled : EXIT.failed;
}

export interface FollowCliOptions {
  /** Follow until the run ends (else stop once caught up). */
  follow: boolean;
  /** A terminal is attached: ask at approval waits and on Ctrl-C. */
  interactive: boolean;
  lastEventId?: string;
}

/** Whether event `m` ends an approval wait (decided, the run moved on, ended or was reset). */
function endsWait(m: SseMessage): boolean {
  if (m.event === 'end' || m.event === 'reset') return true;
  if (m.event !== 'approval' && m.event !== 'status') return false;
  try {
    const d = JSON.parse(m.data) as { approved?: boolean; status?: string };
    return m.event === 'approval' ? d.approved !== undefined : d.status !== 'awaiting_approval';
  } catch {
    return false;
  }
}

/** Follows run `id` and answers the exit code. */
export async function followCommand(client: ApiClient, term: Terminal, id: string, opts: FollowCliOptions): Promise<number> {
  const timeline = new Timeline(term);
  const stop = new AbortController();
  // One state, not two clocks: comparing Date.now() with a setTimeout (the loop's clock)
  // let a second Ctrl-C just inside the window ask to cancel after the detach had fired.
  let state: 'following' | 'armed' | 'asking' | 'detached' = 'following';
  const detachedNow = () => state === 'detached'; // read through a call: the handlers change it
  let detachTimer: NodeJS.Timeout | undefined;
  /** The approval question on screen, if any: aborting it takes it away. */
  let approvalAsked: AbortController | undefined;
  let failure: Error | undefined;
  const withdrawApproval = () => approvalAsked?.abort();
  const detach = () => {
    state = 'detached';
    withdrawApproval();
    stop.abort();
  };
  // Ctrl-C, as SIGINT or as a key pressed at a question (raw mode): the same everywhere.
  const onSigint = () => {
    if (!opts.interactive) return detach();
    if (state === 'armed') {
      clearTimeout(detachTimer);
      state = 'asking';
      withdrawApproval();
      const askCancel = new AbortController();
      void ask(term, `Cancel run ${id}? [y/N] `, { empty: 'no', onInterrupt: () => askCancel.abort(), signal: askCancel.signal }).then(async (yes) => {
        if (yes !== 'yes') return detach();
        state = 'following';
        await client.control(id, 'cancel').then(() => term.note(`cancelling ${id}; following it to its end`), (err: unknown) => {
          term.note(`could not cancel: ${(err as Error).message}`);
          detach();
        });
      });
      return;
    }
    if (state !== 'following') return; // already asking, or on the way out
    state = 'armed';
    term.note(`detaching in ${DETACH_GRACE_MS / 1000} s (the run goes on); press Ctrl-C again to cancel it instead`);
    detachTimer = setTimeout(detach, DETACH_GRACE_MS);
  };
  /** Asks the approval wait of `raw` while the events go on; a failure to send the answer ends the command. */
  const askApproval = (raw: string) => {
    withdrawApproval();
    if (state !== 'following' && state !== 'armed') return;
    const asked = new AbortController();
    approvalAsked = asked;
    answerApproval(client, term, id, raw, { onInterrupt: onSigint, signal: asked.signal }).catch((err: unknown) => {
      failure = err instanceof Error ? err : new Error(String(err));
      stop.abort();
    }).finally(() => {
      if (approvalAsked === asked) approvalAsked = undefined;
    });
  };
  process.on('SIGINT', onSigint);
  try {
    const events = followRun(client, id, {
      signal: stop.signal, untilLive: !opts.follow, lastEventId: opts.lastEventId,
      onReconnect: (why, last) => term.note(term.paint('dim', `(reconnecting: ${why}; resuming after ${last ?? 'the start'})`)),
    });
    for await (const m of events) {
      if (endsWait(m)) withdrawApproval();
      timeline.event(m);
      // A wait already decided further on in the history replayed here goes before it is shown.
      if (m.event === 'approval' && opts.interactive && opts.follow && !term.json) setImmediate(askApproval, m.data);
    }
  } finally {
    process.off('SIGINT', onSigint);
    clearTimeout(detachTimer);
    withdrawApproval();
    approvalAsked = undefined;
    timeline.stop();
  }
  if (failure !== undefined) throw failure;
  // Once the run has ended, its outcome is the answer: a Ctrl-C pressed as it ended (one the
  // terminal delivers late, on a loaded machine) neither detaches nor kills the command as 130.
  if (timeline.outcome) {
    process.on('SIGINT', () => undefined);
    return exitCodeOf(timeline.outcome);
  }
  if (detachedNow()) {
    term.note(`detached from ${id}; it goes on. Re-attach: agentrun logs ${id} --follow`);
    return EXIT.detached;
  }
  return exitCodeOf(timeline.outcome);
}

/**
 * Asks y/n at an approval wait and sends the answer. Only y/yes/n/no answer: an empty line
 * asks again, and Ctrl-C is the follow's (it never rejects the plan).
 */
async function answerApproval(client: ApiClient, term: Terminal, id: string, raw: string, how: { onInterrupt: () => void; signal: AbortSignal }): Promise<void> {
  const d = JSON.parse(raw) as { kind?: string; approved?: boolean; question?: string };
  if (d.approved !== undefined) return; // a decision, not a wait
  if (d.kind === 'question') {
    term.note(`answer with: agentrun message ${id} "<text>"`);
    return;
  }
  const answer = await ask(term, `Approve ${d.kind === 'budget' ? 'more credits for' : 'the plan of'} ${id}? [y/n] `, how);
  if (answer === undefined) return;
  try {
    await client.control(id, 'approve', { approved: answer === 'yes' });
  } catch (err) {
    // Answered elsewhere meanwhile (the web page, another terminal): the log shows the decision.
    if (!(err instanceof ApiError && err.code === 'not_awaiting_approval')) throw err;
  }
}

/** `agentrun run`: starts the run (once, under an Idempotency-Key) and follows it. */
export async function runCommand(client: ApiClient, term: Terminal, req: RunStart, interactive: boolean): Promise<number> {
  const run = await client.startRun(req, randomUUID());
  if (term.json) term.doc({ id: run.id, event: 'started', data: { status: run.status } });
  else term.note(`run ${run.id} ${run.status} · re-attach any time: agentrun logs ${run.id} --follow`);
  return followCommand(client, term, run.id, { follow: true, interactive });
}

/** `agentrun fork`: a new run after step `fromStep` of an ended run (its workspace as it was then), followed. */
export async function forkCommand(client: ApiClient, term: Terminal, id: string, req: { fromStep: number; requireApproval?: boolean }, interactive: boolean): Promise<number> {
  const run = await client.forkRun(id, req);
  if (term.json) term.doc({ id: run.id, event: 'started', data: { status: run.status, forkOf: run.forkOf } });
  else term.note(`run ${run.id} ${run.status}: ${id} forked after step ${req.fromStep} · re-attach any time: agentrun logs ${run.id} --follow`);
  return followCommand(client, term, run.id, { follow: true, interactive });
}
