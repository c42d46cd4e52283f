/**
 * freeLoopbackPort picks below the kernel's ephemeral range (where outgoing connections take
 * their local ports, so a port picked there could be taken before its listener binds it) and
 * above the local stack's own ports, never the same one twice, and the port can be bound.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { freeLoopbackPort } from '../../src/infra/free-port.ts';

describe('freeLoopbackPort', () => {
  it('picks distinct, bindable ports between 20000 and the ephemeral range', async () => {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports = await Promise.all(Array.from({ length: 20 }, () => freeLoopbackPort()));
    assert.equal(new Set(ports).size, ports.length, `distinct: ${ports.join(', ')}`);
    for (const port of ports) assert.ok(port >= 20000 && port < low, `${port} is below ${low} and from 20000`);
    const s = createServer();
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(ports[0], '127.0.0.1', () => resolve()); });
    await new Promise((resolve) => s.close(resolve));
  });
});
