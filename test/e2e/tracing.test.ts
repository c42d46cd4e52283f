/**
 * OpenTelemetry traces through the real API and worker processes (the worker on a
 * prebuilt workflow bundle, as in the image): a local OTLP/HTTP receiver (JSON, POST
 * /v1/traces) collects what they export, and one trace must run from the caller's
 * `traceparent` through the POST request, the workflow start, the workflow and each of
 * its activities. With OTEL_EXPORTER_OTLP_ENDPOINT unset nothing
 * is sent; a malformed one stops a process at start with one line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertRefused, boot } from '../helpers/boot.ts';
import { newUser, connectClients, ROOT, stackEnv, startApi, startWorker, stop, uniqueQueue } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';
import { authHeaders } from '../helpers/auth.ts';
import { collect, parse } from '../helpers/runs.ts';

interface OtlpSpan {
  traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number;
  attributes?: { key: string; value: Record<string, unknown> }[];
}
interface Exported extends OtlpSpan { service: string; resource: Record<string, unknown> }

/** A local OTLP/HTTP receiver: every POST /v1/traces body (JSON), flattened to spans with their resource. */
async function otlpReceiver() {
  const spans: Exported[] = [];
  let requests = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests += 1;
      if (req.method !== 'POST' || req.url !== '/v1/traces') { res.writeHead(404).end(); return; }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans?: { resource?: { attributes?: OtlpSpan['attributes'] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
      };
      for (const rs of body.resourceSpans ?? []) {
        const resource = attrs(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) spans.push({ ...s, service: String(resource['service.name']), resource });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function attrs(list: OtlpSpan['attributes']): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, Object.values(value)[0]]));
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const PROMPT = 'Trace me.\nwrite_file out/t.txt traced\nshell echo traced';

async function startRun(api: string, traceparent: string): Promise<string> {
  const res = await fetch(`${api}/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent, ...authHeaders(api) },
    body: JSON.stringify({ prompt: PROMPT }),
  });
  const body = (await res.json()) as { id: string };
  assert.equal(res.status, 202, JSON.stringify(body));
  return body.id;
}

describe('OpenTelemetry traces', () => {
  let c: Clients;
  let user: string;
  before(async () => {
    c = await connectClients();
    user = await newUser(c, 100_000, 'otel');
  });
  after(async () => { await c?.close(); });

  describe('with OTEL_EXPORTER_OTLP_ENDPOINT set', () => {
    let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
    let worker: Proc | undefined;
    let api: (Proc & { url: string }) | undefined;
    let dir: string | undefined;
    before(async () => {
      receiver = await otlpReceiver();
      // The worker runs a bundle prebuilt as the image's is, so the workflow spans prove the interceptors are in it.
      dir = mkdtempSync(join(tmpdir(), 'agentrun-otel-'));
      const bundlePath = join(dir, 'workflow-bundle.js');
      const built = spawnSync(process.execPath, [join(ROOT, 'src/worker/bundle.ts'), bundlePath], { encoding: 'utf8' });
      assert.equal(built.status, 0, built.stderr);
      const env = {
        ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('otel'), DEFAULT_USER_ID: user, WORKFLOW_BUNDLE_PATH: bundlePath,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '3600000', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=e2e',
      };
      [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
    });
    after(async () => {
      await Promise.all([stop(api), stop(worker)]);
      await receiver?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('one trace runs from the caller\'s traceparent through POST /v1/runs, StartWorkflow, RunWorkflow and every activity', async () => {
      const traceId = hex(16);
      const callerSpan = hex(8);
      const id = await startRun(api!.url, `00-${traceId}-${callerSpan}-01`);
      const events = await collect(api!.url, id);
      assert.equal(parse(events.at(-1)!).status, 'completed');
      assert.match(api!.output(), /"tracing on: spans exported by OTLP\/HTTP"/);
      assert.match(worker!.output(), /"tracing on: spans exported by OTLP\/HTTP"/);

      await c.temporal.workflow.getHandle(id).result(); // the workflow's own span ends with it, after the stream's `end`
      // The batch delay is longer than the test: the spans leave when each process stops (SIGTERM flushes them).
      await Promise.all([stop(api), stop(worker)]);
      const inTrace = () => receiver.spans.filter((s) => s.traceId === traceId);
      const named = (name: string) => inTrace().filter((s) => s.name === name);
      const [run] = named('RunWorkflow:AgentRun');
      assert.ok(run, `the workflow span; spans of the trace: ${inTrace().map((s) => s.name).join(', ')}`);
      const [post] = named('POST /v1/runs');
      assert.ok(post, 'the request span');
      assert.equal(post.parentSpanId, callerSpan, 'the request span is a child of the caller\'s span');
      assert.equal(post.kind, 2, 'SERVER');
      assert.equal(post.service, 'agentrun-api');
      assert.equal(post.resource['deployment.environment'], 'e2e', 'OTEL_RESOURCE_ATTRIBUTES apply');
      assert.deepEqual([attrs(post.attributes)['http.route'], attrs(post.attributes)['http.request.method'], attrs(post.attributes)['http.response.status_code']], ['/v1/runs', 'POST', 202]);

      const [start] = named('StartWorkflow:AgentRun');
      assert.ok(start, 'the workflow start span');
      assert.equal(start.parentSpanId, post.spanId, 'the workflow start is a child of the request');
      assert.equal(run.parentSpanId, start.spanId, 'the workflow run is a child of its start');
      assert.equal(run.service, 'agentrun-worker');

      const activities = inTrace().filter((s) => s.name.startsWith('RunActivity:'));
      const byId = new Map(inTrace().map((s) => [s.spanId, s]));
      for (const a of activities) {
        const scheduled = byId.get(a.parentSpanId ?? '');
        assert.equal(scheduled?.name, a.name.replace('RunActivity:', 'StartActivity:'), `${a.name} is a child of the workflow scheduling it`);
        assert.equal(scheduled.parentSpanId, run.spanId, `${scheduled.name} is a child of RunWorkflow`);
        assert.equal(a.service, 'agentrun-worker');
      }
      const names = new Set(activities.map((a) => a.name.slice('RunActivity:'.length)));
      // An offline run's plan is made inside openRun (patch open-with-plan): no span of its own.
      for (const expected of ['openRun', 'runPaidStep', 'closeRun']) assert.ok(names.has(expected), `an activity span of ${expected}; got ${[...names].join(', ')}`);
      assert.equal(new Set(activities.filter((a) => a.name === 'RunActivity:runPaidStep').map((a) => a.parentSpanId)).size, 2, 'each step scheduled once, a span per attempt under it');
    });
  });

  describe('with OTEL_EXPORTER_OTLP_ENDPOINT unset', () => {
    it('the API and the worker send nothing, even with the exporter\'s traces endpoint set, and say tracing is off', async () => {
      const receiver = await otlpReceiver();
      const env = {
        ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('otel-off'), DEFAULT_USER_ID: user,
        OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
      };
      const [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
      try {
        const id = await startRun(api.url, `00-${hex(16)}-${hex(8)}-01`);
        assert.equal(parse((await collect(api.url, id)).at(-1)!).status, 'completed');
      } finally {
        await Promise.all([stop(api), stop(worker)]); // a graceful stop would flush any span
        await receiver.close();
      }
      assert.equal(receiver.requests(), 0);
      for (const p of [api, worker]) assert.match(p.output(), /"tracing off \(OTEL_EXPORTER_OTLP_ENDPOINT unset\)"/);
    });

    for (const component of ['api', 'worker'] as const) {
      it(`${component}: a malformed endpoint stops it at start with one line naming it`, async () => {
        assertRefused(await boot(component, { ...stackEnv(), OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), component, /OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318"/);
      });
    }
  });
});
