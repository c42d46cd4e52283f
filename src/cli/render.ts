/**
 * What the CLI prints. `Terminal`: stdout for results, stderr for notes and questions; colours
 * and the live status line only when stdout is a terminal (NO_COLOR, as node:util's
 * styleText reads it, removes the colours only); with `--json`
 * one JSON document per command, or one event per line (NDJSON) while following.
 * `Timeline`: a run's events as people read them — the plan, a line per finished step
 * (step n/N, tool, elapsed, its summary), the log lines as they come, credits used, the
 * approval waits, the end — with a spinner on the running step.
 */
import { styleText } from 'node:util';
import { browserLogLines } from '../client/log-lines.ts';
import type { SseMessage } from '../client/sse.ts';

type Style = Parameters<typeof styleText>[0];
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export class Terminal {
  readonly json: boolean;
  readonly tty: boolean;
  private status = '';
  /** A question being asked (stderr): it takes the status line's place below the output. */
  private question = '';
  constructor(json: boolean, stdout: NodeJS.WriteStream = process.stdout) {
    this.json = json;
    this.tty = !json && stdout.isTTY === true;
  }

  paint(style: Style, text: string): string {
    return this.tty ? styleText(style, text, { stream: process.stdout }) : text;
  }

  /** A line of output (above the status line on a terminal). */
  line(text: string): void {
    this.clearBottom();
    process.stdout.write(`${text}\n`);
    this.drawBottom();
  }

  /** A note for people: stderr, never mixed into results. */
  note(text: string): void {
    this.clearBottom();
    process.stderr.write(`${text}\n`);
    this.drawBottom();
  }

  /** One JSON document (or NDJSON line). */
  doc(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** Shows a question (with what was typed so far) below the output, in the status line's place; '' takes it away. */
  ask(text: string): void {
    this.clearBottom();
    this.question = text;
    this.drawBottom();
  }

  /** The live status line (terminals only); '' removes it. */
  setStatus(text: string): void {
    if (!this.tty || text === this.status) return; // ticks with nothing running would redraw a question for nothing
    this.clearBottom();
    this.status = text;
    this.drawBottom();
  }

  private clearBottom(): void {
    if (this.question) process.stderr.write('\r\x1b[2K');
    else if (this.tty && this.status) process.stdout.write('\r\x1b[2K');
  }

  private drawBottom(): void {
    if (this.question) process.stderr.write(this.question);
    else if (this.tty && this.status) process.stdout.write(this.status);
  }
}

export interface Outcome { status: string; error?: { code: string; message: string } }

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
/** A value of an event's data as text. */
const str = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

export class Timeline {
  private readonly term: Terminal;
  private planned: string[] = [];
  private running?: { index: number; tool: string; since: number };
  private credits = 0;
  private readonly started = Date.now();
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;
  outcome: Outcome | undefined;

  constructor(term: Terminal) {
    this.term = term;
    this.spin();
  }

  private spin(): void {
    if (!this.term.tty) return;
    this.timer = setInterval(() => this.tick(), 100);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.term.setStatus('');
  }

  event(m: SseMessage): void {
    let data: Record<string, unknown> = {};
    try {
      data = JSON.parse(m.data) as Record<string, unknown>;
    } catch { /* shown raw below */ }
    if (this.term.json) {
      this.term.doc({ id: m.id ?? null, event: m.event, data });
      if (m.event === 'end') this.outcome = { status: String(data.status), error: data.error as Outcome['error'] };
      if (m.event === 'reset') this.outcome = undefined;
      return;
    }
    switch (m.event) {
      case 'status': return this.onStatus(data);
      case 'step': return this.onStep(data);
      case 'log': return this.onLog(data);
      case 'usage':
        if (typeof data.runCharged === 'number') this.credits = data.runCharged;
        return;
      case 'approval': return this.onApproval(data);
      case 'gap': return this.term.note(this.term.paint('yellow', `(older events: ${JSON.stringify(data)})`));
      case 'end': return this.onEnd(data);
      case 'reset': return this.onReset(data);
      default: this.term.line(`${m.event}: ${m.data}`);
    }
  }

  private onStatus(d: Record<string, unknown>): void {
    const plan = d.plan as { summary?: string; steps?: string[] } | undefined;
    if (plan?.steps) {
      this.planned = plan.steps;
      const summary = plan.summary && !/^\d+ step\(s\)$/.test(plan.summary) ? ` — ${plan.summary}` : '';
      this.term.line(`${this.term.paint('cyan', '●')} plan: ${plan.steps.length} step(s): ${plan.steps.join(', ')}${summary}`);
    } else if (!['running', 'completed', 'failed', 'cancelled'].includes(String(d.status)) || d.actor) {
      this.term.line(`${this.term.paint('cyan', '●')} ${String(d.status)}${d.actor ? ` (by ${JSON.stringify(d.actor)})` : ''}`);
    }
  }

  private label(index: number, tool: string): string {
    return `step ${index + 1}${this.planned.length ? `/${this.planned.length}` : ''} ${tool}`;
  }

  private onStep(d: Record<string, unknown>): void {
    const index = Number(d.index);
    // An MCP step goes by its connector's tool (named on its `started` event).
    const tool = typeof d.connector === 'string' ? d.connector : this.running?.index === index ? this.running.tool : String(d.tool);
    if (d.phase === 'started') {
      this.running = { index, tool, since: Date.now() };
      if (!this.term.tty) this.term.line(`▶ ${this.label(index, tool)}`);
      this.tick();
      return;
    }
    if (d.phase !== 'completed' && d.phase !== 'failed') return;
    const took = this.running?.index === index ? Date.now() - this.running.since : undefined;
    if (this.running?.index === index) this.running = undefined;
    const ok = d.ok !== false && d.phase !== 'failed';
    const mark = ok ? this.term.paint('green', '✔') : this.term.paint('red', '✖');
    this.term.line(`${mark} ${this.label(index, tool)}${took === undefined ? '' : `  ${seconds(took)}`}${d.summary ? `  ${this.term.paint('dim', str(d.summary))}` : ''}`);
    this.tick();
  }

  private onLog(d: Record<string, unknown>): void {
    const text = typeof d.text === 'string' ? d.text : JSON.stringify(d);
    if (d.stream === 'supervisor' && typeof d.text !== 'string') return this.term.line(this.term.paint('dim', `  ↳ supervisor: ${str(d.decision)}${d.reason ? `: ${str(d.reason)}` : ''}`));
    if (d.stream === 'control' && typeof d.text !== 'string') return this.term.line(this.term.paint('dim', `  ↳ ${str(d.action)} by ${str(d.actor)}`));
    if (d.stream === 'credits') return this.term.line(this.term.paint('dim', `  $ ${text}`));
    if (d.stream === 'browser') {
      for (const line of browserLogLines(d)) this.term.line(`${this.term.paint('dim', '  │ ')}${line}`);
      return;
    }
    const prefix = d.stream === 'stderr' ? this.term.paint('red', '  │ ') : this.term.paint('dim', '  │ ');
    for (const line of text.split('\n')) this.term.line(`${prefix}${line}`);
  }

  private onApproval(d: Record<string, unknown>): void {
    if (d.approved === undefined) {
      const what = d.kind === 'question' ? `question: ${str(d.question)}` : `${String(d.kind)} needed: ${str(d.detail ?? '')}`;
      this.term.line(`${this.term.paint('yellow', '?')} ${what}`);
    } else {
      this.term.line(`${this.term.paint('yellow', '?')} ${d.approved ? 'approved' : 'rejected'}${d.comment ? `: ${str(d.comment)}` : ''}`);
    }
  }

  private onEnd(d: Record<string, unknown>): void {
    this.outcome = { status: String(d.status), error: d.error as Outcome['error'] };
    this.running = undefined;
    this.stop();
    const credits = typeof d.credits === 'number' ? d.credits : this.credits;
    const color: Style = d.status === 'completed' ? 'green' : d.status === 'cancelled' ? 'yellow' : 'red';
    const e = this.outcome.error;
    const why = e ? `: ${e.code === d.status ? '' : `${e.code}: `}${e.message}` : '';
    this.term.line(`${this.term.paint(color, '■')} ${String(d.status)}${why}  ${seconds(Date.now() - this.started)} · ${credits} credit(s)`);
  }

  /** A reset in Temporal: the run goes on from an earlier point, its ending so far undone. */
  private onReset(d: Record<string, unknown>): void {
    this.outcome = undefined;
    const again = typeof d.reserved === 'number' && d.reserved > 0 ? `, ${d.reserved} credit(s) reserved again` : '';
    const refused = typeof d.message === 'string' ? `: ${d.message}` : '';
    this.term.line(`${this.term.paint('cyan', '↺')} reset: the run goes on from an earlier point of its history${again}${refused}`);
    this.spin();
  }

  private tick(): void {
    if (!this.term.tty) return;
    this.frame = (this.frame + 1) % SPINNER.length;
    const r = this.running;
    this.term.setStatus(r ? `${this.term.paint('cyan', SPINNER[this.frame]!)} ${this.label(r.index, r.tool)}  ${seconds(Date.now() - r.since)} · ${this.credits} credit(s)` : '');
  }
}
