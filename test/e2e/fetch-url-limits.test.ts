/**
 * fetch_url's limits through the API and the worker: a site that never answers fails the
 * step, after its attempts, with FETCH_TIMEOUT_MS named in the reason (each attempt reached
 * the site and was cut at the limit); a chain of redirects fails at the 6th, which is never
 * requested; an IPv4-compatible IPv6 literal of loopback is refused as such.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import * as runs from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';
import { listen } from '../helpers/listen.ts';


describe('fetch_url limits through the API and the worker', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let site: string;
  let silentHits = 0;
  const hops: string[] = [];
  let server: Server;

  before(async () => {
    c = await connectClients();
    server = createServer((req, res) => {
      if (req.url === '/silent') { silentHits += 1; return; }
      const hop = /^\/hop\/(\d+)$/.exec(req.url!);
      if (hop) { hops.push(req.url!); res.writeHead(302, { location: `/hop/${Number(hop[1]) + 1}` }); return res.end(); }
      res.writeHead(404).end();
    });
    const port = await listen(server);
    site = `http://127.0.0.1:${port}`;
    const env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('fetch-limits'), DEFAULT_USER_ID: await newUser(c, 10_000, 'fetch-limits'),
      FETCH_ALLOW_HOSTS: `127.0.0.1:${port}`, FETCH_TIMEOUT_MS: '1000', OUTSIDE_RETRY_MS: '100' };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    server.closeAllConnections();
    server.close();
    await c?.close();
  });

  it('a site that never answers fails the step with FETCH_TIMEOUT_MS named, after reaching it on each attempt', async () => {
    const { view } = await runs.runToEnd(api!.url, `fetch_url ${site}/silent`, 180_000);
    assert.equal(view.status, 'failed');
    assert.match(view.error?.message ?? '', /no complete answer from http:\/\/127\.0\.0\.1:\d+\/silent within FETCH_TIMEOUT_MS \(1000 ms\)/);
    assert.ok(silentHits >= 2, `retried as the site's trouble (${silentHits} attempts)`);
  });

  it('a 6th redirect fails the run with the cap as the reason, and its target is never requested', async () => {
    const { view } = await runs.runToEnd(api!.url, `fetch_url ${site}/hop/0`);
    assert.equal(view.status, 'failed');
    assert.match(view.error?.message ?? '', /refused: more than 5 redirects/);
    assert.deepEqual(hops, ['/hop/0', '/hop/1', '/hop/2', '/hop/3', '/hop/4', '/hop/5']);
  });

  it('refuses http://[::127.0.0.1]/ as an IPv4-compatible form of loopback', async () => {
    const { view } = await runs.runToEnd(api!.url, 'fetch_url http://[::127.0.0.1]/');
    assert.equal(view.status, 'failed');
    assert.match(view.error?.message ?? '', /::7f00:1 is an ipv4Compatible address \(of 127\.0\.0\.1\)/);
  });
});
