/**
 * A listener of its own for GET /metrics (the API's and the worker's), so the public
 * API port never exposes run counts, queue depths or process details. With `health`, it
 * also answers the probes of a process that has no other port (the worker): GET /healthz
 * (alive) and GET /readyz (200 when `health` says ready, else 503, with its details).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

export interface MetricsServerOptions {
  host: string;
  port: number;
  contentType: string;
  /** The exposition text of one scrape. */
  scrape: () => Promise<string>;
  log: Logger;
  /** Readiness of the process, for GET /readyz; without it there are no probe routes. */
  health?: () => { ready: boolean; detail: Record<string, unknown> };
}

/** Serves GET /metrics on host:port (0 picks a free one); resolves once listening. */
export async function serveMetrics(opts: MetricsServerOptions): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && opts.health && (path === '/healthz' || path === '/readyz')) {
      const { ready, detail } = path === '/healthz' ? { ready: true, detail: {} } : opts.health();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ready ? 'ready' : 'not_ready', ...detail }));
      return;
    }
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(`{"error":{"code":"not_found","message":"only GET /metrics${opts.health ? ', /healthz and /readyz' : ''}"}}`);
      return;
    }
    opts.scrape().then((body) => {
      res.writeHead(200, { 'content-type': opts.contentType }).end(body);
    }).catch((err: unknown) => {
      opts.log.error({ err }, 'metrics scrape failed');
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}/metrics` };
}
