/**
 * A run's log, virtualised: the lines live in an array and only the rows in view (plus a
 * margin) are in the DOM, so 50,000 lines scroll as smoothly as 50. It follows the end
 * while the reader is at the bottom, and stays put when they scroll up to read.
 */
import { h } from './dom.ts';

const ROW_PX = 18;
const MARGIN_ROWS = 20;

export interface LogLine { text: string; kind: 'stdout' | 'stderr' | 'meta' }

export class LogView {
  readonly el: HTMLDivElement;
  private readonly spacer: HTMLDivElement;
  private readonly rows: HTMLDivElement;
  readonly lines: LogLine[] = [];
  private pending = false;
  private stick = true;

  constructor() {
    this.rows = h('div', { class: 'log-rows' });
    this.spacer = h('div', { class: 'log-spacer' }, this.rows);
    this.el = h('div', { class: 'log', id: 'log', tabindex: 0, role: 'log', 'aria-label': 'Run log', 'data-count': 0 }, this.spacer);
    this.el.addEventListener('scroll', () => {
      this.stick = this.el.scrollTop + this.el.clientHeight >= this.el.scrollHeight - ROW_PX * 2;
      this.schedule();
    });
  }

  append(text: string, kind: LogLine['kind'] = 'stdout'): void {
    for (const line of text.split('\n')) this.lines.push({ text: line, kind });
    this.schedule();
  }

  /** The whole log as text (the Download log button). */
  text(): string {
    return this.lines.map((l) => l.text).join('\n');
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  private render(): void {
    const total = this.lines.length;
    this.spacer.style.height = `${total * ROW_PX}px`;
    this.el.dataset.count = String(total);
    if (this.stick) this.el.scrollTop = this.el.scrollHeight;
    const first = Math.max(0, Math.floor(this.el.scrollTop / ROW_PX) - MARGIN_ROWS);
    const last = Math.min(total, Math.ceil((this.el.scrollTop + this.el.clientHeight) / ROW_PX) + MARGIN_ROWS);
    this.rows.style.top = `${first * ROW_PX}px`;
    const nodes: HTMLDivElement[] = [];
    for (let i = first; i < last; i += 1) {
      const line = this.lines[i]!;
      nodes.push(h('div', { class: `log-line ${line.kind}`, 'data-line': i + 1 }, line.text));
    }
    this.rows.replaceChildren(...nodes);
  }
}
