/** A test's own HTTP server (a site to fetch, a proxy target) listening on a free loopback port. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Starts `s` on 127.0.0.1 at a port the kernel picks; resolves with the port. */
export const listen = (s: Server): Promise<number> =>
  new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
