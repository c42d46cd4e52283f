// The app image's HEALTHCHECK: exit 0 when the process this container runs answers.
// The worker (PID 1's command names src/worker/main.ts) is probed on its /metrics when
// WORKER_METRICS_PORT is fixed; anything else is the API, probed on /healthz.
import { readFileSync } from 'node:fs';

const cmdline = (() => { try { return readFileSync('/proc/1/cmdline', 'utf8'); } catch { return ''; } })();
const worker = cmdline.includes('src/worker/main.ts');
const port = worker ? Number(process.env.WORKER_METRICS_PORT || 0) : Number(process.env.API_PORT || 18080);
if (worker && port === 0) process.exit(0); // a worker on a random metrics port: nothing fixed to probe
const url = `http://127.0.0.1:${port}${worker ? '/metrics' : '/healthz'}`;
fetch(url, { signal: AbortSignal.timeout(4000) }).then(
  (res) => process.exit(res.ok ? 0 : 1),
  (err) => { process.stderr.write(`${url}: ${err.message}\n`); process.exit(1); },
);
