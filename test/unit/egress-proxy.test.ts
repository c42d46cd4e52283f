/**
 * The browser's egress proxy on its own: requests in absolute form and CONNECT tunnels
 * are checked like fetch_url's (an allow-listed local server passes; loopback, the
 * metadata address and disallowed ports are refused with a 403 and recorded with the
 * rule); an answer over FETCH_MAX_BYTES and a page over its total are cut off.
 */
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { EgressProxy } from '../../src/infra/egress-proxy.ts';
import { listen } from '../helpers/listen.ts';


/** One request through the proxy: absolute form for http, CONNECT for a tunnel. */
function viaProxy(proxyPort: number, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxyPort, method: 'GET', path: url }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function connect(proxyPort: number, hostPort: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: hostPort });
    req.on('connect', (res, socket) => { socket.destroy(); resolve(res.statusCode ?? 0); });
    req.on('error', reject);
    req.end();
  });
}

describe('the egress proxy of the browser tool', () => {
  let site: Server;
  let port: number;
  let proxy: EgressProxy;

  before(async () => {
    site = createServer((req, res) => {
      if (req.url === '/big') return res.end(Buffer.alloc(50_000, 'x'));
      res.end(`hello ${req.url}`);
    });
    port = await listen(site);
    proxy = await EgressProxy.listen({ allowHosts: [`127.0.0.1:${port}`], allowPorts: [80, 443], maxBytes: 20_000, timeoutMs: 5000 }, 30_000, { port: 0 });
  });
  after(async () => {
    await proxy.close();
    site.close();
  });

  it('forwards an allowed request and tunnels to an allowed host', async () => {
    assert.deepEqual(await viaProxy(proxy.port, `http://127.0.0.1:${port}/a?b=1`), { status: 200, body: 'hello /a?b=1' });
    assert.equal(await connect(proxy.port, `127.0.0.1:${port}`), 200);
  });

  for (const [what, url, reason] of [
    ['loopback on an allowed port', 'http://127.0.0.1/admin', /127\.0\.0\.1 is a loopback address/],
    ['the metadata address', 'http://169.254.169.254/latest/meta-data/', /linkLocal address/],
    ['a disallowed port', 'http://93.184.216.34:6379/', /port 6379 is not allowed/],
    ['a decimal loopback', 'http://2130706433/', /loopback address/],
    ['a name resolving to loopback', 'http://localhost/', /localhost resolves to 127\.0\.0\.1 is a loopback address|loopback/],
  ] as const) {
    it(`refuses ${what} with a 403 and records the rule`, async () => {
      const r = await viaProxy(proxy.port, url);
      assert.equal(r.status, 403);
      assert.match(r.body, reason);
      assert.match(proxy.record.refused.at(-1)!.reason, reason);
    });
  }

  it('refuses a tunnel to an internal address or port', async () => {
    assert.equal(await connect(proxy.port, '127.0.0.1:6379'), 403);
    assert.match(proxy.record.refused.at(-1)!.reason, /port 6379 is not allowed/);
    assert.equal(await connect(proxy.port, '10.0.0.1:443'), 403);
    assert.match(proxy.record.refused.at(-1)!.reason, /10\.0\.0\.1 is a private address/);
  });

  it('refuses a request that is not in absolute form', async () => {
    const r = await viaProxy(proxy.port, '/relative');
    assert.equal(r.status, 403);
  });

  it('cuts off an answer over FETCH_MAX_BYTES and records why', async () => {
    const r = await viaProxy(proxy.port, `http://127.0.0.1:${port}/big`).catch((err: Error) => ({ status: -1, body: err.message }));
    assert.notEqual(r.body.length, 50_000);
    assert.match(proxy.record.refused.at(-1)!.reason, /50000 bytes, more than FETCH_MAX_BYTES \(20000\)|more than FETCH_MAX_BYTES/);
  });
});
