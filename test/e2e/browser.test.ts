/**
 * The browser tool through the API and the worker (SANDBOX=local: Chromium in a
 * bubblewrap jail whose only way out is the egress proxy). An allow-listed local site
 * (FETCH_ALLOW_HOSTS) is opened: the screenshot is a PNG of the viewport whose pixels show
 * the page's known colour block, the text is saved and read back, title and final URL
 * reach the log. Everything the page tries to reach elsewhere — an image, a script's
 * fetch, an iframe on the metadata address, a redirect to an internal server — is refused
 * by the guard with its reason, and the internal server is never reached. A page that
 * never finishes loading is shown as far as it got after BROWSER_TIMEOUT_MS; a page whose
 * requests pass BROWSER_PAGE_MAX_BYTES together gets the rest refused.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { PNG } from 'pngjs';
import { createExecutor } from '../../src/sandbox/index.ts';
import { createLogger } from '../../src/infra/logger.ts';
import { WorkspaceStore } from '../../src/workspace/store.ts';
import { apiFetch } from '../helpers/auth.ts';
import * as runs from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';
import { listen } from '../helpers/listen.ts';

/** The page load cap and the page byte cap of the worker, and the size of each of /heavy's three images. */
const LOAD_CAP_MS = 4000;
const PAGE_MAX_BYTES = 100_000;
const BLOB_BYTES = 60_000;


describe('the browser tool through the API and the worker', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let site: string;
  let internal: string;
  const internalHits: string[] = [];
  const siteHits: string[] = [];
  const servers: Server[] = [];

  before(async () => {
    c = await connectClients();
    const inner = createServer((req, res) => { internalHits.push(req.url ?? ''); res.end('secret'); });
    internal = `http://127.0.0.1:${await listen(inner)}`;
    const allowed = createServer((req, res) => {
      siteHits.push(req.url ?? '');
      const html = (body: string) => { res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }); res.end(body); };
      if (req.url === '/page') {
        return html(`<!doctype html><html><head><title>Colour block</title><style>body{margin:0;background:#fff}</style></head><body>
<div style="position:absolute;left:0;top:0;width:400px;height:300px;background:rgb(255,0,0)"></div>
<p style="position:absolute;top:320px">Hello from the jailed browser</p>
<img src="${internal}/pixel.png"><iframe src="http://169.254.169.254/latest/meta-data/"></iframe>
<script>fetch('${internal}/from-script').catch(() => {});</script>
</body></html>`);
      }
      if (req.url === '/slow') return html('<!doctype html><title>Half loaded</title><p>Shown before the slow image</p><img src="/never">');
      if (req.url === '/never') return; // never answers: the page's load event never comes
      if (req.url === '/heavy') return html(`<!doctype html><title>Heavy</title><p>Three big images</p>${[1, 2, 3].map((n) => `<img src="/blob/${n}">`).join('')}`);
      if (req.url?.startsWith('/blob/')) { res.writeHead(200, { 'content-type': 'image/png' }); return res.end(Buffer.alloc(BLOB_BYTES, 7)); }
      if (req.url === '/hop') { res.writeHead(302, { location: '/page' }); return res.end(); }
      if (req.url === '/to-internal') { res.writeHead(302, { location: `${internal}/secret` }); return res.end(); }
      res.writeHead(404).end('no such page');
    });
    const port = await listen(allowed);
    servers.push(inner, allowed);
    site = `http://127.0.0.1:${port}`;
    const user = await newUser(c, 10_000, 'browser');
    const env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('browser'), DEFAULT_USER_ID: user, FETCH_ALLOW_HOSTS: `127.0.0.1:${port}`, SANDBOX: 'local',
      BROWSER_TIMEOUT_MS: String(LOAD_CAP_MS), BROWSER_PAGE_MAX_BYTES: String(PAGE_MAX_BYTES) };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    for (const s of servers) { s.closeAllConnections(); s.close(); }
    await c?.close();
  });

  const runToEnd = (prompt: string) => runs.runToEnd(api!.url, prompt);
  const file = async (id: string, path: string) => Buffer.from(await (await apiFetch(`${api!.url}/v1/runs/${id}/files/${path}`)).arrayBuffer());

  it('opens a page after a redirect: a screenshot whose pixels show the page, its text, title and final URL; other addresses refused', async () => {
    const { id, events, view } = await runToEnd(`browser ${site}/hop --screenshot shots/page.png --text`);
    assert.equal(view.status, 'completed', JSON.stringify(view.error));
    const page = events.find((e) => e.event === 'log' && e.data.stream === 'browser')?.data as { title: string; url: string; status: number; refused: { url: string; reason: string }[]; text: string };
    assert.equal(page.title, 'Colour block');
    assert.equal(page.url, `${site}/page`, 'the final URL, after the redirect');
    assert.equal(page.status, 200);
    assert.match(page.text, /Hello from the jailed browser/);
    const refused = new Map(page.refused.map((r) => [r.url, r.reason]));
    assert.match(refused.get(`${internal}/pixel.png`) ?? '', /port \d+ is not allowed/, JSON.stringify(page.refused));
    assert.match(refused.get(`${internal}/from-script`) ?? '', /port \d+ is not allowed/, 'a script\'s fetch goes through the guard too');
    assert.match(refused.get('http://169.254.169.254/latest/meta-data/') ?? '', /169\.254\.169\.254 is a linkLocal address/);
    const step = events.find((e) => e.event === 'step' && e.data.phase === 'completed')!.data;
    assert.match(String(step.summary), /opened .*\/page \(200\): "Colour block"; saved a 1280×720 screenshot in shots\/page\.png .* and its text in browser\/000\.txt .*; 3 request\(s\) refused/);

    const png = PNG.sync.read(await file(id, 'shots/page.png'));
    assert.deepEqual([png.width, png.height], [1280, 720]);
    const pixel = (x: number, y: number) => [...png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 3)];
    assert.deepEqual(pixel(200, 150), [255, 0, 0], 'inside the block: red');
    assert.deepEqual(pixel(399, 299), [255, 0, 0], 'its last pixel');
    assert.deepEqual(pixel(600, 150), [255, 255, 255], 'beside it: the white page');
    assert.match((await file(id, 'browser/000.txt')).toString('utf8'), /Hello from the jailed browser/);
    assert.deepEqual(internalHits, [], 'the internal server was never reached');
    assert.deepEqual(siteHits.filter((u) => u === '/hop' || u === '/page'), ['/hop', '/page']);
  });

  it('a page that never finishes loading is shown as far as it got once BROWSER_TIMEOUT_MS passes', async () => {
    const { events, view } = await runToEnd(`browser ${site}/slow --text`);
    assert.equal(view.status, 'completed', JSON.stringify(view.error));
    const page = events.find((e) => e.event === 'log' && e.data.stream === 'browser')?.data as { title: string; loaded: boolean; text: string };
    assert.deepEqual([page.title, page.loaded], ['Half loaded', false]);
    assert.match(page.text, /Shown before the slow image/);
    const step = events.find((e) => e.event === 'step' && e.data.phase === 'completed')!.data;
    assert.match(String(step.summary), new RegExp(`opened .*/slow \\(still loading after ${LOAD_CAP_MS} ms\\): "Half loaded"`));
    assert.ok(siteHits.includes('/never'), 'the slow image was asked for');
  });

  it('a page whose requests together pass BROWSER_PAGE_MAX_BYTES gets no more: the rest are refused with the cap as the reason', async () => {
    const { events, view } = await runToEnd(`browser ${site}/heavy --text`);
    assert.equal(view.status, 'completed', JSON.stringify(view.error));
    const page = events.find((e) => e.event === 'log' && e.data.stream === 'browser')?.data as { text: string; refused: { url: string; reason: string }[] };
    assert.match(page.text, /Three big images/);
    const capped = page.refused.filter((r) => /^http:\/\/127\.0\.0\.1:\d+\/blob\/[123]$/.test(r.url) && r.reason === `the page loaded more than ${PAGE_MAX_BYTES} bytes in all`);
    // The page and one image fit; a second image passes the cap (each is far under FETCH_MAX_BYTES).
    assert.ok(capped.length >= 1 && capped.length <= 2, JSON.stringify(page.refused));
  });

  it('a redirect to an internal server fails the run with the rule; the server is never reached', async () => {
    const { view, events } = await runToEnd(`browser ${site}/to-internal --screenshot x.png`);
    assert.equal(view.status, 'failed');
    assert.match(view.error?.message ?? '', new RegExp(`browser: ${internal.replace(/[.]/g, '\\.')}/secret refused: port \\d+ is not allowed`));
    assert.ok(!events.some((e) => e.event === 'log' && e.data.stream === 'browser'));
    assert.deepEqual(internalHits, []);
  });

  it('an internal or metadata URL named directly is refused before any browser starts', async () => {
    for (const url of [`${internal}/secret`, 'http://169.254.169.254/', 'file:///etc/passwd']) {
      const { view } = await runToEnd(`browser ${url} --text`);
      assert.equal(view.status, 'failed', url);
      assert.match(view.error?.message ?? '', /refused: /, url);
    }
    assert.deepEqual(internalHits, []);
  });

  it('a worker without Chromium does not offer the tool, and says why', async () => {
    const cfg = { ...c.config, tools: { ...c.config.tools, browser: { ...c.config.tools.browser, path: '/nonexistent/chromium' } } };
    const ws = new WorkspaceStore({ s3: c.s3, bucket: c.config.s3.bucket, fileMaxBytes: c.config.workspace.fileMaxBytes });
    const exec = await createExecutor(cfg, ws, createLogger('silent', 'test'));
    assert.equal(exec.browser, undefined);
    assert.match(exec.browserAbsent ?? '', /no Chromium at BROWSER_PATH \(\/nonexistent\/chromium\)/);
  });
});
