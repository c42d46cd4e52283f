/**
 * The browser tool on SANDBOX=kubernetes, through the API and a worker on the real
 * control plane (./dev up --kube): each page is a Job in K8S_BROWSER_IMAGE, labelled for
 * the tools' web-egress NetworkPolicy, whose runner opens it behind its own egress proxy
 * and saves the screenshot and text into the workspace. kwok runs no containers: the pod
 * simulator runs the Job's phases with the runner's code on this machine (host mode, with
 * this machine's Chromium), as a kubelet would run them from the browser image.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { BatchV1Api, type KubeConfig } from '@kubernetes/client-node';
import { PNG } from 'pngjs';
import { createLogger } from '../../src/infra/logger.ts';
import { KubernetesExecutor } from '../../src/sandbox/kubernetes/executor.ts';
import { jobSelector } from '../../src/sandbox/kubernetes/manifest.ts';
import { loadConfig } from '../../src/shared/config.ts';
import { WorkspaceStore } from '../../src/workspace/store.ts';
import { apiFetch } from '../helpers/auth.ts';
import { startHostPodSimulator, type PodSimulator } from '../helpers/kube-sim.ts';
import * as runs from '../helpers/runs.ts';
import { connectClients, kubeStackEnv, newUser, startApi, startWorker, stop, uniqueQueue } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';
import { listen } from '../helpers/listen.ts';

const NS = 'agentrun-tools';
const BROWSER_IMAGE = 'localhost/agentrun-runner-browser:dev';

describe('the browser tool on Kubernetes: a Job per page (pod simulator in host mode)', () => {
  let c: Clients;
  let sim: PodSimulator;
  let admin: KubeConfig;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let site: string;
  let internal: string;
  const internalHits: string[] = [];
  const servers: Server[] = [];

  before(async () => {
    const kenv = kubeStackEnv();
    // The runner image `./dev image` builds has no Chromium; the browser image's phases run here instead.
    ({ sim, admin } = await startHostPodSimulator(kenv.AGENTRUN_KUBE_ADMIN_KUBECONFIG, NS));
    c = await connectClients();
    const inner = createServer((req, res) => { internalHits.push(req.url ?? ''); res.end('secret'); });
    internal = `http://127.0.0.1:${await listen(inner)}`;
    const allowed = createServer((req, res) => {
      if (req.url === '/hop') { res.writeHead(302, { location: '/page' }); return res.end(); }
      if (req.url === '/to-internal') { res.writeHead(302, { location: `${internal}/secret` }); return res.end(); }
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><title>In a pod</title><body style="margin:0;background:#fff"><div style="width:300px;height:200px;background:rgb(0,0,255)"></div><p>Opened by a Job</p><img src="${internal}/pixel.png"></body>`);
    });
    site = `http://127.0.0.1:${await listen(allowed)}`;
    servers.push(inner, allowed);
    const env = {
      ...kenv, SANDBOX: 'kubernetes', K8S_BROWSER_IMAGE: BROWSER_IMAGE, TEMPORAL_TASK_QUEUE: uniqueQueue('k8s-browser'),
      DEFAULT_USER_ID: await newUser(c, 10_000, 'k8s-browser'), FETCH_ALLOW_HOSTS: `127.0.0.1:${site.split(':').pop()}`,
    };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    sim?.stop();
    for (const s of servers) s.close();
    await c?.close();
  });

  const runToEnd = (prompt: string) => runs.runToEnd(api!.url, prompt, 120_000);

  it('opens the page in a Job of the browser image labelled for web egress; the files it saved are the workspace\'s', async () => {
    const { id, events, view } = await runToEnd(`browser ${site}/hop --screenshot shots/pod.png --text`);
    assert.equal(view.status, 'completed', JSON.stringify(view.error));
    const page = events.find((e) => e.event === 'log' && e.data.stream === 'browser')!.data as { title: string; url: string; refused: { url: string }[]; text: string };
    assert.deepEqual([page.title, page.url], ['In a pod', `${site}/page`]);
    assert.match(page.text, /Opened by a Job/);
    assert.deepEqual(page.refused.map((r) => r.url), [`${internal}/pixel.png`]);
    const step = events.find((e) => e.event === 'step' && e.data.phase === 'started')!.data;
    assert.equal(step.sandbox, 'kubernetes');
    const png = PNG.sync.read(Buffer.from(await (await apiFetch(`${api!.url}/v1/runs/${id}/files/shots/pod.png`)).arrayBuffer()));
    assert.deepEqual([png.width, png.height], [1280, 720]);
    const at = (x: number, y: number) => [...png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 3)];
    assert.deepEqual(at(150, 100), [0, 0, 255]);
    assert.deepEqual(at(500, 100), [255, 255, 255]);
    const text = await (await apiFetch(`${api!.url}/v1/runs/${id}/files/browser/000.txt`)).text();
    assert.match(text, /Opened by a Job/);
    const jobs = await admin.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: NS, labelSelector: jobSelector(id) });
    const template = jobs.items[0]!.spec!.template;
    assert.equal(template.metadata?.labels?.['agentrun.dev/egress'], 'web');
    // Only the exec container, which holds no credentials, runs the browser image; pull and push stay the runner's.
    const images = Object.fromEntries(template.spec!.containers.concat(template.spec!.initContainers ?? []).map((ct) => [ct.name, ct.image]));
    assert.equal(images.exec, BROWSER_IMAGE, JSON.stringify(images));
    assert.ok(Object.entries(images).every(([n, img]) => n === 'exec' || img !== BROWSER_IMAGE), JSON.stringify(images));
    assert.deepEqual(internalHits, []);
  });

  it('a redirect to an internal server fails the run with the rule', async () => {
    const { view } = await runToEnd(`browser ${site}/to-internal --text`);
    assert.equal(view.status, 'failed');
    assert.match(view.error?.message ?? '', /browser: http:\/\/127\.0\.0\.1:\d+\/secret refused: port \d+ is not allowed/);
    assert.deepEqual(internalHits, []);
  });

  it('without K8S_BROWSER_IMAGE the executor offers no browser, and says why', () => {
    const cfg = loadConfig({ ...kubeStackEnv(), SANDBOX: 'kubernetes' }).sandbox;
    assert.equal(cfg.kind, 'kubernetes');
    if (cfg.kind !== 'kubernetes') return;
    const exec = new KubernetesExecutor({ workspace: new WorkspaceStore({ s3: c.s3, bucket: c.config.s3.bucket, fileMaxBytes: 1 }), log: createLogger('silent', 'test'), maxWorkspaceBytes: 1, maxFileBytes: 1, cfg: cfg.kubernetes }, admin);
    assert.equal(exec.browser, undefined);
    assert.match(exec.browserAbsent ?? '', /K8S_BROWSER_IMAGE \(a runner image with Chromium\) is not set/);
  });
});
