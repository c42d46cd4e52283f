/**
 * A TCP port free on loopback right now, for a listener that cannot report the port
 * it picked for 0: the worker's Temporal SDK metrics exporter, the demo's API, and
 * tests' private servers. One helper for all (src/infra: the worker imports it, so it
 * cannot live under src/dev; it binds a socket, so it is not src/shared).
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
