/** Operations endpoints: `/readyz` (every dependency reachable, else 503 naming what is down) and `/metrics`. */
import { Router } from 'express';
import type { Registry } from 'prom-client';
import { withTimeout } from '../infra/preflight.ts';

export interface OpsDeps {
  /** Named readiness checks; each resolves when its dependency answers. */
  checks: Record<string, () => Promise<void>>;
  timeoutMs: number;
  registry?: Registry;
}

export function createOpsRouter(deps: OpsDeps): Router {
  const r = Router();
  r.get('/readyz', async (_req, res) => {
    const names = Object.keys(deps.checks);
    type Check = { ok: boolean; ms: number; error?: string };
    const results = await Promise.all(names.map(async (name): Promise<readonly [string, Check]> => {
      const t0 = Date.now();
      try {
        await withTimeout(name, deps.timeoutMs, deps.checks[name]!());
        return [name, { ok: true, ms: Date.now() - t0 }];
      } catch (err) {
        return [name, { ok: false, ms: Date.now() - t0, error: String((err as Error).message).split('\n')[0]!.slice(0, 200) }];
      }
    }));
    const checks = Object.fromEntries(results);
    const down = results.filter(([, c]) => !c.ok).map(([n]) => n);
    res.setHeader('Cache-Control', 'no-store');
    if (down.length > 0) res.status(503).setHeader('Retry-After', '5').json({ status: 'unavailable', down, checks });
    else res.json({ status: 'ready', checks });
  });
  if (deps.registry) {
    const registry = deps.registry;
    r.get('/metrics', async (_req, res) => {
      const body = await registry.metrics();
      res.setHeader('Content-Type', registry.contentType);
      res.send(body);
    });
  }
  return r;
}
