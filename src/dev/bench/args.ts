/**
 * The bench's parameters: flags (`--runs 8`), else BENCH_<NAME> in the environment, else
 * the defaults (`--quick`: small ones for a smoke run); `--only P3,P5` picks row groups.
 * Pure (test/unit/bench-args.test.ts).
 */
import { StackError } from '../proc.ts';

/** The row groups, in the order the bench measures them. */
export const ROW_GROUPS = ['P1', 'P2', 'P2b', 'P3', 'P4', 'P5', 'P6', 'P7'] as const;
export type RowGroup = typeof ROW_GROUPS[number];

export interface BenchParams {
  /** P1: concurrent runs, steps each, alternating rounds; P2/P2b/P5/P7: single samples per round. */
  runs: number;
  steps: number;
  rounds: number;
  samples: number;
  /** P3: SSE clients on one run, events published to it, and the publish rate (events/s). */
  clients: number;
  events: number;
  rate: number;
  /** P4: how far back (events) the reconnecting client's Last-Event-ID is. */
  backlog: number;
  /** P6: runs waiting on approval while the worker's RSS is read. */
  waiting: number;
  /** API processes sharing the bench API's port (API_REUSE_PORT): every row goes through them. */
  apis: number;
  /** The row groups to measure (all unless --only). */
  only: RowGroup[];
}

type Sizes = Omit<BenchParams, 'only'>;
const FULL: Sizes = { runs: 20, steps: 5, rounds: 3, samples: 10, clients: 1000, events: 5000, rate: 50, backlog: 10_000, waiting: 200, apis: 2 };
const QUICK: Sizes = { runs: 5, steps: 2, rounds: 1, samples: 3, clients: 50, events: 500, rate: 100, backlog: 1000, waiting: 20, apis: 1 };
const MAX: Record<keyof Sizes, number> = { runs: 10_000, steps: 10_000, rounds: 10_000, samples: 10_000, clients: 10_000, events: 1_000_000, rate: 100_000, backlog: 1_000_000, waiting: 10_000, apis: 64 };

export function parseBenchArgs(args: readonly string[], env: Record<string, string | undefined> = {}): BenchParams {
  const quick = args.includes('--quick') || env.BENCH_QUICK === '1';
  const p: Sizes = { ...(quick ? QUICK : FULL) };
  for (const key of Object.keys(FULL) as (keyof Sizes)[]) {
    const at = args.indexOf(`--${key}`);
    const envName = `BENCH_${key.toUpperCase()}`;
    const raw = at >= 0 ? args[at + 1] : env[envName];
    if (raw === undefined || raw === '') continue;
    const v = Number(raw);
    const what = at >= 0 ? `--${key}` : envName;
    if (!Number.isInteger(v) || v < 1 || v > MAX[key]) throw new StackError(`${what} takes a whole number from 1 to ${MAX[key]}, not ${JSON.stringify(raw)}`);
    p[key] = v;
  }
  const at = args.indexOf('--only');
  const rawOnly = at >= 0 ? args[at + 1] : env.BENCH_ONLY;
  return { ...p, only: rawOnly ? parseOnly(rawOnly) : [...ROW_GROUPS] };
}

/** `P3,p5` → ['P3', 'P5'] in bench order; an unknown id is refused with the list of known ones. */
export function parseOnly(raw: string): RowGroup[] {
  const wanted = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const known = new Map(ROW_GROUPS.map((g) => [g.toLowerCase(), g]));
  const picked = new Set<RowGroup>();
  for (const w of wanted) {
    const g = known.get(w.toLowerCase());
    if (!g) throw new StackError(`--only takes row ids from ${ROW_GROUPS.join(', ')} (comma-separated), not ${JSON.stringify(w)}`);
    picked.add(g);
  }
  if (picked.size === 0) throw new StackError(`--only takes row ids from ${ROW_GROUPS.join(', ')} (comma-separated)`);
  return ROW_GROUPS.filter((g) => picked.has(g));
}
