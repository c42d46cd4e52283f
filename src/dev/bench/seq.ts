/**
 * How the bench's SSE clients keep count without parsing every message (P3, P4): whole
 * events split off a stream's text, the `"seq":N` of each bench event, and a per-client
 * tally that says whether every event arrived once and in order. Pure
 * (test/unit/bench-seq.test.ts).
 */

/** Splits SSE text after its last blank line: whole events first, the unfinished rest kept for the next chunk. */
export function splitEvents(text: string): { events: string; rest: string } {
  if (text.endsWith('\n\n')) return { events: text, rest: '' };
  const end = text.lastIndexOf('\n\n');
  return end < 0 ? { events: '', rest: text } : { events: text.slice(0, end + 2), rest: text.slice(end + 2) };
}

/** The id of the last event in SSE text (an `id: ` at a line start), or undefined when it names none. */
export function lastEventIdIn(text: string): string | undefined {
  for (let at = text.lastIndexOf('id: '); at >= 0; at = at === 0 ? -1 : text.lastIndexOf('id: ', at - 1)) {
    if (at === 0 || text[at - 1] === '\n') {
      const end = text.indexOf('\n', at);
      return text.slice(at + 4, end < 0 ? undefined : end);
    }
  }
  return undefined;
}

const SEQ = '"seq":';

/** Calls `each` with the sequence number of every bench event in `text`, in order (a scan, no regex: it runs per chunk per client). */
export function countSeqs(text: string, each: (seq: number) => void): void {
  for (let at = text.indexOf(SEQ); at >= 0; at = text.indexOf(SEQ, at)) {
    at += SEQ.length;
    let n = 0;
    let digits = 0;
    for (let c = text.charCodeAt(at); c >= 48 && c <= 57; c = text.charCodeAt(++at)) { n = n * 10 + (c - 48); digits += 1; }
    if (digits > 0) each(n);
  }
}

/** One reader's tally of events 0…n-1: how many distinct ones arrived, and how many broke the order. */
export class SeqTracker {
  private readonly seen: Uint8Array;
  private last = -1;
  /** Distinct events seen. */
  count = 0;
  /** Events that arrived twice, out of order, or outside 0…n-1. */
  disorder = 0;

  constructor(n: number) {
    this.seen = new Uint8Array(n);
  }

  /** Records one arrival; true when it is the first of that event. */
  see(seq: number): boolean {
    if (seq !== this.last + 1) this.disorder += 1;
    this.last = seq;
    if (!(seq >= 0 && seq < this.seen.length) || this.seen[seq]) return false;
    this.seen[seq] = 1;
    this.count += 1;
    return true;
  }

  /** Every event once, in order. */
  lossless(): boolean {
    return this.count === this.seen.length && this.disorder === 0;
  }
}
