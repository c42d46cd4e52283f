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
  /** The baseline's unit when it is not `unit` (P6: MB per run against the idle worker's MB). */
  baselineUnit?: string;
  /** agentrun ÷ baseline for throughputs (higher is better), baseline-relative cost for latencies; NaN when not comparable. */
  ratio: number;
  higherIsBetter: boolean;
  /** Set when the row could not be measured here (no Kubernetes control plane): why. */
  skipped?: string;
}

/** A figure; the ratio is agentrun ÷ baseline unless given (NaN: the two are not the same kind of number). */
export function figure(f: Omit<Figure, 'ratio'> & { ratio?: number }): Figure {
  return { ...f, ratio: f.ratio ?? f.agentrun / f.baseline };
}

/** The row of a figure that could not be measured, saying why. */
export function skipped(id: string, what: string, why: string): Figure {
  return { id, what, unit: '', agentrun: Number.NaN, baseline: Number.NaN, baselineWhat: '', ratio: Number.NaN, higherIsBetter: false, skipped: why };
}

const num = (x: number) => (Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2)) : '—');

/** The markdown table the bench prints (README's Performance section shows one). */
export function table(figures: readonly Figure[]): string {
  const rows = figures.map((f) => {
    if (f.skipped !== undefined) return `| ${f.id} | ${f.what} | skipped: ${f.skipped} | — | — |`;
    const baseline = Number.isFinite(f.baseline) ? `${num(f.baseline)} ${f.baselineUnit ?? f.unit} (${f.baselineWhat})` : '—';
    const ratio = Number.isFinite(f.ratio) ? `${num(f.ratio)}× ${f.higherIsBetter ? '(higher is better)' : '(lower is better)'}` : '—';
    return `| ${f.id} | ${f.what} | ${num(f.agentrun)} ${f.unit} | ${baseline} | ${ratio} |`;
  });
  return ['| id | figure | agentrun | baseline | ratio |', '|---|---|---|---|---|', ...rows].join('\n');
}
