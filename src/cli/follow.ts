/**
 * `agentrun run` and `agentrun logs`: start a run and follow it, or follow one. The exit
 * code is the outcome (0 completed, 1 failed, 2 cancelled). With a terminal attached an
 * approval wait asks y/n; Ctrl-C detaches after 2 s (the run goes on; the command to
 * re-attach is printed, exit 130), and a second Ctrl-C within those 2 s asks whether to
 * cancel the run instead. Lost connections and API restarts are followed through
 * (Last-Event-ID), so no line is lost or repeated.
 */
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline/promises';
import { ApiError } from '../client/api.ts';
import type { ApiClient, RunStart } from '../client/api.ts';
import { followRun } from '../client/follow.ts';
import { Timeline } from './render.ts';
import type { Outcome, Terminal } from './render.ts';

/** How long after a Ctrl-C the command detaches; a second Ctrl-C inside it asks to cancel. */
const DETACH_GRACE_MS = 2000;

export const EXIT = { completed: 0, failed: 1, cancelled: 2, usage: 3, api: 4, detached: 130 } as const;

export function exitCodeOf(outcome: Outcome | undefined): number {
  if (!outcome) return EXIT.completed;
  return outcome.status === 'completed' ? EXIT.completed : outcome.status === 'cancelled' ? EXIT.cancelled : EXIT.failed;
}

/** A y/n question on the terminal (stderr), false unless the answer is y or yes. */
async function ask(term: Terminal, question: string): Promise<boolean> {
  term.hold(true);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.on('SIGINT', () => resolve(''));
      rl.question(question).then(resolve, () => resolve(''));
    });
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
    term.hold(false);
  }
}

export interface FollowCliOptions {
  /** Follow until the run ends (else stop once caught up). */
  follow: boolean;
  /** A terminal is attached: ask at approval waits and on Ctrl-C. */
  interactive: boolean;
  lastEventId?: string;
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
  const detach = () => {
    state = 'detached';
    stop.abort();
  };
  const onSigint = () => {
    if (!opts.interactive) return detach();
    if (state === 'armed') {
      clearTimeout(detachTimer);
      state = 'asking';
      void ask(term, `Cancel run ${id}? [y/N] `).then(async (yes) => {
        if (!yes) return detach();
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
  process.on('SIGINT', onSigint);
  try {
    const events = followRun(client, id, {
      signal: stop.signal, untilLive: !opts.follow, lastEventId: opts.lastEventId,
      onReconnect: (why, last) => term.note(term.paint('dim', `(reconnecting: ${why}; resuming after ${last ?? 'the start'})`)),
    });
    for await (const m of events) {
      timeline.event(m);
      if (m.event === 'approval' && opts.interactive && !term.json) await answerApproval(client, term, id, m.data);
    }
  } finally {
    process.off('SIGINT', onSigint);
    clearTimeout(detachTimer);
    timeline.stop();
  }
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

async function answerApproval(client: ApiClient, term: Terminal, id: string, raw: string): Promise<void> {
  const d = JSON.parse(raw) as { kind?: string; approved?: boolean; question?: string };
  if (d.approved !== undefined) return; // a decision, not a wait
  if (d.kind === 'question') {
    term.note(`answer with: agentrun message ${id} "<text>"`);
    return;
  }
  const yes = await ask(term, `Approve ${d.kind === 'budget' ? 'more credits for' : 'the plan of'} ${id}? [y/N] `);
  try {
    await client.control(id, 'approve', { approved: yes });
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
