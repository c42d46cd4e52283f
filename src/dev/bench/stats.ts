/** Percentiles, rounds and the bench's table: pure functions (test/unit/bench-stats.test.ts). */

/** The q-quantile (0..1) of `xs` by nearest rank; NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export const median = (xs: readonly number[]) => quantile(xs, 0.5);

/** One figure: agentrun's value and the baseline's, measured in the same run. */
export interface Figure {
  id: string;
  what: string;
  unit: string;
  agentrun: number;
  baseline: number;
  baselineWhat: string;
  /** agentrun ÷ baseline for throughputs (higher is better), baseline-relative cost for latencies. */
  ratio: number;
  higherIsBetter: boolean;
}

export function figure(f: Omit<Figure, 'ratio'>): Figure {
  return { ...f, ratio: f.agentrun / f.baseline };
}

const num = (x: number) => (Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2)) : '—');

/** The markdown table the bench prints (README's Performance section shows one). */
export function table(figures: readonly Figure[]): string {
  const rows = figures.map((f) => `| ${f.id} | ${f.what} | ${num(f.agentrun)} ${f.unit} | ${num(f.baseline)} ${f.unit} (${f.baselineWhat}) | ${num(f.ratio)}× ${f.higherIsBetter ? '(higher is better)' : '(lower is better)'} |`);
  return ['| id | figure | agentrun | baseline | ratio |', '|---|---|---|---|---|', ...rows].join('\n');
}
