/**
 * Operations endpoints against real services: /healthz, /readyz (200 when every
 * dependency answers, 503 naming what is down, never why: that goes to the log), the
 * API's /metrics on its own loopback listener in Prometheus text format with the named
 * series, and the worker's /metrics with the Temporal SDK's series merged in.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import pino from 'pino';
import { createOpsRouter } from '../../src/api/ops-routes.ts';
import { queueKeys } from '../../src/shared/names.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

/** Every non-comment line of a Prometheus text exposition: name{labels} value. */
function parseExposition(text: string): { name: string; labels: string; value: number }[] {
  const out: { name: string; labels: string; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)( \d+)?$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${line}`);
    out.push({ name: m[1]!, labels: m[2] ?? '', value: Number(m[3]) });
  }
  return out;
}

describe('operations endpoints', () => {
  let c: Clients;
  let env: Record<string, string>;
  let worker: Proc | undefined;
  let api: (Proc & { url: string; token?: string }) | undefined;
  const prefix = `jobs-ops-${randomBytes(4).toString('hex')}:`;

  before(async () => {
    c = await connectClients();
    const user = await newUser(c, 1000, 'ops');
    env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('opsm'), DEFAULT_USER_ID: user, QUEUE_KEY_PREFIX: prefix, WORKER_METRICS_PORT: '0', AUTH_OPERATORS: user };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c.redis.del(...Object.values(queueKeys(prefix)));
    await c.close();
  });

  it('/healthz answers without dependencies; /readyz is 200 with every check passing', async () => {
    assert.equal((await fetch(`${api!.url}/healthz`)).status, 200);
    const res = await fetch(`${api!.url}/readyz`);
    const body = (await res.json()) as { status: string; checks: Record<string, { ok: boolean }> };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.status, 'ready');
    assert.deepEqual(Object.keys(body.checks).sort(), ['database', 'queue_consumer', 'redis', 's3', 'temporal']);
    assert.ok(Object.values(body.checks).every((ch) => ch.ok));
  });

  it('/readyz answers 503 naming the dependency that is down', async () => {
    const app = express();
    const logged: string[] = [];
    app.use(createOpsRouter({
      log: pino({ level: 'info' }, { write: (line: string) => { logged.push(line); } }),
      timeoutMs: 200,
      checks: { redis: async () => { throw new Error('connect ECONNREFUSED 127.0.0.1:1'); }, temporal: () => new Promise(() => undefined), s3: async () => undefined },
    }));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`);
      assert.equal(res.status, 503);
      const text = await res.text();
      const body = JSON.parse(text) as { status: string; down: string[]; checks: Record<string, { ok: boolean; error?: string }> };
      assert.deepEqual(body.down.sort(), ['redis', 'temporal']);
      // Anonymous callers learn up or down, never the error text (hosts, ports, users); the server log has it.
      assert.equal(body.checks.redis!.error, undefined);
      assert.doesNotMatch(text, /ECONNREFUSED|127\.0\.0\.1|no answer/);
      assert.match(logged.join(''), /"check":"redis".*ECONNREFUSED/);
      assert.match(logged.join(''), /"check":"temporal".*no answer within 200 ms/);
      assert.equal(body.checks.s3!.ok, true);
    } finally {
      server.close();
    }
  });

  it('/metrics is Prometheus text with latency by route template, runs by status, SSE clients and queue depths', async () => {
    const headers = { 'content-type': 'application/json', ...(api?.token ? { authorization: `Bearer ${api.token}` } : {}) };
    const created = await fetch(`${api!.url}/v1/runs`, { method: 'POST', headers, body: JSON.stringify({ prompt: 'write_file m.txt ok' }) });
    assert.equal(created.status, 202);
    const { id } = (await created.json()) as { id: string };
    await c.temporal.workflow.getHandle(id).result();
    await fetch(`${api!.url}/v1/queue`, { headers });
    await fetch(`${api!.url}/no/such/route/${id}`);
    // Not on the API's port: a listener of its own, on loopback (API_METRICS_HOST / API_METRICS_PORT).
    assert.equal((await fetch(`${api!.url}/metrics`)).status, 404);
    const metricsUrl = /"metrics":"(http:\/\/[^"]+\/metrics)"/.exec(api!.output())?.[1];
    assert.ok(metricsUrl, 'the API logs where its metrics listen');
    assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    assert.equal((await fetch(metricsUrl.replace('/metrics', '/v1/runs'))).status, 404);
    const res = await fetch(metricsUrl);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const samples = parseExposition(text);
    const has = (name: string, labels?: RegExp) => samples.some((s) => s.name === name && (!labels || labels.test(s.labels)));
    assert.ok(has('agentrun_http_request_duration_seconds_bucket', /route="\/v1\/runs",status="202"/), 'POST /v1/runs latency');
    assert.ok(has('agentrun_http_request_duration_seconds_count', /route="\/v1\/queue",status="200"/), 'GET /v1/queue latency');
    assert.ok(has('agentrun_http_request_duration_seconds_count', /route="unmatched"/), 'unmatched requests share one label');
    assert.ok(!text.includes(`/no/such/route/${id}`), 'raw paths never become labels');
    assert.ok(samples.some((s) => s.name === 'agentrun_runs' && s.labels.includes('status="completed"') && s.value >= 1));
    assert.ok(has('agentrun_sse_clients'));
    for (const q of ['pending', 'high_priority', 'processing', 'retry', 'failed']) {
      assert.ok(has('agentrun_queue_depth', new RegExp(`queue="${q}"`)), `depth of ${q}`);
      assert.ok(has('agentrun_queue_oldest_age_seconds', new RegExp(`queue="${q}"`)), `age of ${q}`);
    }
    assert.ok(samples.some((s) => s.name === 'agentrun_queue_consumer_last_poll_timestamp_seconds' && s.value > Date.now() / 1000 - 60));
    assert.ok(has('agentrun_api_process_cpu_user_seconds_total'));
    // Temporal's own view of the runs' task queue: this test's worker polls it.
    for (const type of ['workflow', 'activity']) {
      assert.ok(samples.some((s) => s.name === 'agentrun_task_queue_pollers' && s.labels === `{type="${type}"}` && s.value >= 1), `${type} pollers`);
    }
  });

  it('agentrun_task_queue_pollers is 0 when the only worker polls another task queue (the seeds\' worker that never dequeued)', async () => {
    const lonely = await startApi({ ...env, TEMPORAL_TASK_QUEUE: uniqueQueue('unpolled') });
    try {
      const metricsUrl = /"metrics":"(http:\/\/[^"]+\/metrics)"/.exec(lonely.output())?.[1];
      assert.ok(metricsUrl);
      const samples = parseExposition(await (await fetch(metricsUrl)).text());
      for (const type of ['workflow', 'activity']) {
        assert.deepEqual(samples.filter((s) => s.name === 'agentrun_task_queue_pollers' && s.labels === `{type="${type}"}`).map((s) => s.value), [0], type);
      }
    } finally {
      await stop(lonely);
    }
  });

  it('the worker serves /metrics on WORKER_METRICS_PORT with its own series and the Temporal SDK\'s', async () => {
    const url = /"url":"(http:\/\/[^"]+\/metrics)"/.exec(worker!.output())?.[1];
    assert.ok(url, 'the worker logs where its metrics listen');
    assert.match(url, /^http:\/\/127\.0\.0\.1:/);
    const text = await waitUntil('temporal_ series', async () => {
      const t = await (await fetch(url)).text();
      return /^temporal_\w+/m.test(t) && t;
    }, 30_000);
    const samples = parseExposition(text);
    assert.ok(samples.some((s) => s.name.startsWith('temporal_')));
    assert.ok(samples.some((s) => s.name === 'agentrun_worker_info' && s.labels.includes(`task_queue="${env.TEMPORAL_TASK_QUEUE}"`)));
    assert.equal((await fetch(url.replace('/metrics', '/other'))).status, 404);
  });

  it('the worker answers probes on its metrics listener: /healthz, and /readyz with its pollers\' state', async () => {
    const url = /"url":"(http:\/\/[^"]+)\/metrics"/.exec(worker!.output())![1]!;
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    const ready = await (await fetch(`${url}/readyz`)).json() as Record<string, unknown>;
    assert.deepEqual({ status: ready.status, runState: ready.runState, workflowPoller: ready.workflowPoller, activityPoller: ready.activityPoller },
      { status: 'ready', runState: 'RUNNING', workflowPoller: 'POLLING', activityPoller: 'POLLING' });
  });
});
