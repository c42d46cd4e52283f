/**
 * Operations endpoints: `/readyz` (every dependency reachable, else 503 naming what is down).
 * Its callers are anonymous (probes), so it says only up or down per dependency; why one is
 * down (error text that may name hosts, ports, users) goes to the server log. `/metrics` is
 * served on a listener of its own (serveApiMetrics in src/api/metrics.ts), not here.
 */
import { Router } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { withTimeout } from '../infra/preflight.ts';

export interface OpsDeps {
  /** Named readiness checks; each resolves when its dependency answers. */
  checks: Record<string, () => Promise<void>>;
  timeoutMs: number;
  /** The API's metrics (served apart, on API_METRICS_HOST:API_METRICS_PORT). */
  registry?: Registry;
  /** Where failed checks are explained. */
  log?: Logger;
}

export function createOpsRouter(deps: OpsDeps): Router {
  const r = Router();
  r.get('/readyz', async (_req, res) => {
    const names = Object.keys(deps.checks);
    type Check = { ok: boolean; ms: number };
    const results = await Promise.all(names.map(async (name): Promise<readonly [string, Check]> => {
      const t0 = Date.now();
      try {
        await withTimeout(name, deps.timeoutMs, deps.checks[name]!());
        return [name, { ok: true, ms: Date.now() - t0 }];
      } catch (err) {
        deps.log?.warn({ check: name, err: String((err as Error).message).split('\n')[0]!.slice(0, 500) }, 'readiness check failed');
        return [name, { ok: false, ms: Date.now() - t0 }];
      }
    }));
    const checks = Object.fromEntries(results);
    const down = results.filter(([, c]) => !c.ok).map(([n]) => n);
    res.setHeader('Cache-Control', 'no-store');
    if (down.length > 0) res.status(503).setHeader('Retry-After', '5').json({ status: 'unavailable', down, checks });
    else res.json({ status: 'ready', checks });
  });
  return r;
}
