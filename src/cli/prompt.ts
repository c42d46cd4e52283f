/**
 * A y/n question on the terminal that the command can take back. The terminal is put in raw
 * mode while it is asked, so Ctrl-C reaches the process as a key, not as SIGINT: it goes to
 * `onInterrupt` (the follow's Ctrl-C handling), never counts as an answer. The question stays
 * below the lines printed meanwhile (Terminal.ask), and `signal` withdraws it (the run left
 * its wait: answered elsewhere, cancelled; or the command ends).
 */
import type { Terminal } from './render.ts';

export type Answer = 'yes' | 'no';

export interface AskOptions {
  /** What an empty answer means; without one, an empty answer asks again. */
  empty?: Answer;
  /** Ctrl-C pressed while asking. */
  onInterrupt: () => void;
  /** Withdraws the question: it resolves undefined. */
  signal?: AbortSignal;
}

const ANSWERS: Record<string, Answer> = { y: 'yes', yes: 'yes', n: 'no', no: 'no' };

/** Asks `question` on stdin (a terminal); resolves the answer, or undefined once withdrawn or at the end of input. */
export function ask(term: Terminal, question: string, opts: AskOptions): Promise<Answer | undefined> {
  const stdin = process.stdin;
  return new Promise((resolve) => {
    let typed = '';
    const finish = (answer: Answer | undefined) => {
      stdin.off('data', onData);
      stdin.off('end', withdraw);
      opts.signal?.removeEventListener('abort', withdraw);
      stdin.setRawMode(false);
      stdin.pause();
      term.ask('');
      resolve(answer);
    };
    const withdraw = () => finish(undefined);
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\u0003') {
          opts.onInterrupt();
          if (opts.signal?.aborted) return; // the handler took the question back
        } else if (ch === '\r' || ch === '\n') {
          const word = typed.trim().toLowerCase();
          const answer = word === '' ? opts.empty : ANSWERS[word];
          if (answer) return finish(answer);
          if (word !== '') term.note('answer y or n');
          typed = '';
        } else if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else if (ch >= ' ') typed += ch;
        term.ask(question + typed);
      }
    };
    if (opts.signal?.aborted) return resolve(undefined);
    opts.signal?.addEventListener('abort', withdraw, { once: true });
    stdin.on('data', onData);
    stdin.once('end', withdraw);
    stdin.setRawMode(true);
    stdin.resume();
    term.ask(question);
  });
}
