/**
 * guardedGet (src/infra/egress.ts) against local servers: the redirect cap (the 6th
 * redirect is refused and never requested), FETCH_TIMEOUT_MS (a server that never
 * answers, or stops mid-body, fails with the limit named), and DNS rebinding: the name is
 * resolved once and the connection goes to the address that was checked, never to what
 * a second resolution would answer.
 */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EgressRefused, FetchTimedOut, guardedGet } from '../../src/infra/egress.ts';
import type { EgressPolicy } from '../../src/infra/egress.ts';

const listen = (s: Server, host = '127.0.0.1', port = 0) => new Promise<number>((resolve, reject) => {
  s.once('error', reject);
  s.listen(port, host, () => resolve((s.address() as AddressInfo).port));
});

describe('guardedGet against local servers', () => {
  const seen: string[] = [];
  let stalled = 0;
  let port = 0;
  let policy: EgressPolicy;
  const servers: Server[] = [];

  before(async () => {
    const site = createServer((req, res) => {
      seen.push(req.url!);
      const hop = /^\/hop\/(\d+)(?:\?to=(\d+))?$/.exec(req.url!);
      if (hop) {
        const n = Number(hop[1]);
        if (hop[2] !== undefined && n >= Number(hop[2])) return res.writeHead(200, { 'content-type': 'text/plain' }).end(`arrived after ${n}`);
        return res.writeHead(302, { location: `/hop/${n + 1}${hop[2] === undefined ? '' : `?to=${hop[2]}`}` }).end();
      }
      if (req.url === '/silent') { stalled += 1; return; }
      if (req.url === '/half') { stalled += 1; res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' }); return res.write('only part'); }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`served by ${req.socket.localAddress}`);
    });
    port = await listen(site);
    servers.push(site);
    policy = { allowHosts: [`127.0.0.1:${port}`], allowPorts: [80, 443], maxBytes: 10_000, timeoutMs: 1000 };
  });
  after(() => { for (const s of servers) { s.closeAllConnections(); s.close(); } });

  it('follows 5 redirects, and refuses the 6th with its reason without requesting it', async () => {
    const ok = await guardedGet(`http://127.0.0.1:${port}/hop/0?to=5`, policy);
    assert.equal(ok.body.toString(), 'arrived after 5');
    assert.equal(ok.redirects.length, 5);
    seen.length = 0;
    await assert.rejects(guardedGet(`http://127.0.0.1:${port}/hop/0`, policy), (err: unknown) => err instanceof EgressRefused && err.reason === 'more than 5 redirects');
    assert.deepEqual(seen, ['/hop/0', '/hop/1', '/hop/2', '/hop/3', '/hop/4', '/hop/5'], 'the 6th redirect\'s target was never requested');
  });

  it('fails a server that never answers, or stops mid-body, with FETCH_TIMEOUT_MS named (a timeout, not a refusal)', async () => {
    for (const path of ['/silent', '/half']) {
      const before = stalled;
      await assert.rejects(guardedGet(`http://127.0.0.1:${port}${path}`, policy),
        (err: unknown) => err instanceof FetchTimedOut && /^no complete answer from http:\/\/127\.0\.0\.1:\d+\/\w+ within FETCH_TIMEOUT_MS \(1000 ms\)$/.test(err.message) || assert.fail(`${path}: ${String(err)}`));
      assert.equal(stalled, before + 1, 'the server was reached');
    }
  });

  it('resolves a name once and connects to that answer, not to a second resolution (DNS rebinding)', async () => {
    // Exempt name: the first answer (127.0.0.1) is where the site is; a second would say 127.0.0.2, another server.
    const rebound = createServer((_req, res) => res.end('rebound'));
    await listen(rebound, '127.0.0.2', port);
    servers.push(rebound);
    let calls = 0;
    const flip = async () => [{ address: (calls += 1) === 1 ? '127.0.0.1' : '127.0.0.2', family: 4 }];
    const got = await guardedGet(`http://rebind.test:${port}/who`, { ...policy, allowHosts: [`rebind.test:${port}`] }, undefined, flip);
    assert.equal(got.body.toString(), 'served by 127.0.0.1');
    assert.equal(calls, 1);
  });

  it('connects to a checked public answer even when a second resolution would say loopback, and only tries that address', async () => {
    // The first answer passes the check; were the name resolved again, the local site would be reached.
    let calls = 0;
    const flip = async () => [{ address: (calls += 1) === 1 ? '8.8.8.8' : '127.0.0.1', family: 4 }];
    const attempts: string[] = [];
    const stop = new AbortController();
    const onSocket = (msg: unknown) => {
      const socket = (msg as { socket: Socket }).socket;
      socket.on('connectionAttempt', (ip: string) => { attempts.push(ip); stop.abort(); });
      socket.on('lookup', (_err: unknown, ip: string) => attempts.push(`lookup:${ip}`));
    };
    subscribe('net.client.socket', onSocket);
    seen.length = 0;
    try {
      await assert.rejects(guardedGet(`http://rebind.example:${port}/secret`, { ...policy, allowHosts: [], allowPorts: [port] }, stop.signal, flip));
    } finally {
      unsubscribe('net.client.socket', onSocket);
    }
    assert.equal(calls, 1, 'resolved once');
    assert.ok(attempts.includes('8.8.8.8') || attempts.includes('lookup:8.8.8.8'), JSON.stringify(attempts));
    assert.ok(attempts.every((a) => a.endsWith('8.8.8.8')), `only the checked address was tried: ${JSON.stringify(attempts)}`);
    assert.deepEqual(seen, [], 'the loopback site was never reached');
  });
});
