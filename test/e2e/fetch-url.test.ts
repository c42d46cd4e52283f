/**
 * fetch_url through the API and the worker: an allow-listed local server (FETCH_ALLOW_HOSTS)
 * is fetched into the workspace and into the log; a 503 is retried; a 404 fails the step; a
 * redirect from the allowed host to an internal one, the metadata address, a body over
 * FETCH_MAX_BYTES and a type not fetched each fail the run with the rule they broke, and
 * the internal server is never reached.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { apiFetch } from '../helpers/auth.ts';
import * as runs from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';
import { listen } from '../helpers/listen.ts';


describe('fetch_url through the API and the worker', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let site: string;
  let internalHits = 0;
  let flaky = 0;
  const servers: Server[] = [];

  before(async () => {
    c = await connectClients();
    const internal = createServer((_req, res) => { internalHits += 1; res.end('secret'); });
    const internalPort = await listen(internal);
    const allowed = createServer((req, res) => {
      const send = (status: number, type: string, body: string | Buffer) => { res.writeHead(status, { 'content-type': type }); res.end(body); };
      if (req.url === '/page.html') return send(200, 'text/html; charset=utf-8', '<h1>Hello from a page</h1>\n');
      if (req.url === '/data.json') return send(200, 'application/json', '{"answer":42}\n');
      if (req.url === '/flaky') return (flaky += 1) === 1 ? send(503, 'text/plain', 'busy') : send(200, 'text/plain', 'second time lucky\n');
      if (req.url === '/redirect-internal') { res.writeHead(302, { location: `http://127.0.0.1:${internalPort}/secret` }); return res.end(); }
      if (req.url === '/redirect-loopback') { res.writeHead(307, { location: 'http://127.0.0.1/admin' }); return res.end(); }
      if (req.url === '/redirect-metadata') { res.writeHead(301, { location: 'http://169.254.169.254/latest/meta-data/' }); return res.end(); }
      if (req.url === '/big') return send(200, 'text/plain', Buffer.alloc(300_000, 'x'));
      if (req.url === '/binary') return send(200, 'application/octet-stream', Buffer.from([0, 1, 2]));
      return send(404, 'text/plain', 'no such page');
    });
    const port = await listen(allowed);
    servers.push(internal, allowed);
    site = `http://127.0.0.1:${port}`;
    const user = await newUser(c, 10_000, 'fetch');
    const env = {
      ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('fetch'), DEFAULT_USER_ID: user,
      FETCH_ALLOW_HOSTS: `127.0.0.1:${port}`, FETCH_MAX_BYTES: '200000',
    };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    for (const s of servers) s.close();
    await c?.close();
  });

  const runToEnd = (prompt: string) => runs.runToEnd(api!.url, prompt);

  it('fetches an allowed page into the workspace and a JSON body into the log; a 503 is retried', async () => {
    const { id, events, view } = await runToEnd(`fetch_url ${site}/page.html pages/hello.html\nread_file pages/hello.html\nfetch_url ${site}/data.json\nfetch_url ${site}/flaky`);
    assert.equal(view.status, 'completed', JSON.stringify(view.error));
    const logs = events.filter((e) => e.event === 'log').map((e) => e.data);
    assert.ok(logs.some((d) => d.stream === 'file' && d.text === '<h1>Hello from a page</h1>\n'), 'read back from the workspace');
    assert.ok(logs.some((d) => d.stream === 'fetch' && d.text === '{"answer":42}\n' && d.url === `${site}/data.json`));
    assert.ok(logs.some((d) => d.stream === 'fetch' && d.text === 'second time lucky\n'));
    const files = (await (await apiFetch(`${api!.url}/v1/runs/${id}/files`)).json()) as { files: { path: string }[] };
    assert.deepEqual(files.files.map((f) => f.path), ['pages/hello.html']);
    assert.equal(flaky, 2);
  });

  it('a 404 fails the step; the run ends failed', async () => {
    const { events, view } = await runToEnd(`fetch_url ${site}/missing`);
    assert.equal(view.status, 'failed');
    const step = events.find((e) => e.event === 'step' && e.data.phase === 'completed')!.data;
    assert.equal(step.ok, false);
    assert.match(String(step.summary), /answered 404/);
  });

  for (const [what, path, reason] of [
    ['a redirect from the allowed host to an internal one', '/redirect-internal', /fetch of http:\/\/127\.0\.0\.1:\d+\/secret refused: port \d+ is not allowed/],
    ['a redirect to a loopback address on an allowed port', '/redirect-loopback', /127\.0\.0\.1 is a loopback address/],
    ['a redirect to the metadata address', '/redirect-metadata', /169\.254\.169\.254 is a linkLocal address/],
    ['a body over FETCH_MAX_BYTES', '/big', /more than FETCH_MAX_BYTES \(200000\)/],
    ['a type that is not fetched', '/binary', /content type application\/octet-stream is not fetched/],
  ] as const) {
    it(`refuses ${what}, failing the run with the reason`, async () => {
      const { view } = await runToEnd(`fetch_url ${site}${path} out.bin`);
      assert.equal(view.status, 'failed');
      assert.match(view.error?.message ?? '', reason);
    });
  }

  it('refuses the metadata address and loopback forms named directly; the internal server was never reached', async () => {
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://2130706433/', 'http://[::ffff:127.0.0.1]:80/']) {
      const { view } = await runToEnd(`fetch_url ${url}`);
      assert.equal(view.status, 'failed', url);
      assert.match(view.error?.message ?? '', /refused: .* address/, url);
    }
    assert.equal(internalHits, 0);
  });
});
