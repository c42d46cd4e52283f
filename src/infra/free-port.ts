/**
 * A TCP port free on loopback right now, for a listener that cannot report the port
 * it picked for 0: the worker's Temporal SDK metrics exporter, the demo's API, and
 * tests' private servers. One helper for all (src/infra: the worker imports it, so it
 * cannot live under src/dev; it binds a socket, so it is not src/shared).
 *
 * The port is picked below the kernel's ephemeral range, which is where port 0 lands and
 * where every outgoing connection takes its local port: a port from there, bound by its
 * listener seconds later (a composed stack's services), was once taken meanwhile by some
 * other process's connection ("address already in use"). Ports below 20000 are left alone:
 * the local stack's own services listen there.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

const LOWEST = 20000;

/** The first port of the kernel's ephemeral range (Linux's default where it cannot be read). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

/** Binds `port` (0: the kernel picks) on loopback and releases it; the port, or undefined when it is taken. */
function probe(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) => (port !== 0 && (err.code === 'EADDRINUSE' || err.code === 'EACCES') ? resolve(undefined) : reject(err)));
    s.listen(port, '127.0.0.1', () => {
      const picked = (s.address() as AddressInfo).port;
      s.close(() => resolve(picked));
    });
  });
}

/** Ports this process handed out: not handed out twice (a caller may bind several at once, later). */
const handedOut = new Set<number>();

export async function freeLoopbackPort(): Promise<number> {
  const highest = ephemeralLow() - 1;
  for (let i = 0; highest > LOWEST && i < 50; i++) {
    const candidate = LOWEST + Math.floor(Math.random() * (highest - LOWEST + 1));
    if (handedOut.has(candidate)) continue;
    handedOut.add(candidate); // before the probe: calls at once never try the same one
    const port = await probe(candidate);
    if (port !== undefined) return port;
  }
  return (await probe(0))!; // a machine with no room below its ephemeral range
}
