/**
 * Event streams (SSE) against a real API, worker and Redis: open streams are capped per
 * user (429) and per process (503) and give their place back when they close; the seeds'
 * create → open stream → start flow streams the run once it starts (not a 503); a run that
 * ended without starting gets one `end` saying so.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { newRunId } from '../../src/runs/ids.ts';
import { mintToken } from '../helpers/auth.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

interface OpenStream { status: number; text: () => string; body: string; close: () => Promise<void> }

describe('event stream limits and not-started runs', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let api: (Proc & { url: string; token: string }) | undefined;
  const prefix = `jobs-test-streams-${randomBytes(3).toString('hex')}:`; // inside the stack ACL user's jobs* keys
  const users: Record<'a' | 'b' | 'c', { id: string; token: string }> = {} as never;
  const open: OpenStream[] = [];

  before(async () => {
    c = await connectClients();
    for (const k of ['a', 'b', 'c'] as const) {
      const id = await newUser(c, 1000, `streams-${k}`);
      users[k] = { id, token: await mintToken(id) };
    }
    const env = {
      ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('streams'), QUEUE_KEY_PREFIX: prefix, QUEUE_CONSUMER: 'false',
      SSE_MAX_STREAMS_PER_USER: '2', SSE_MAX_STREAMS: '3', SSE_HEARTBEAT_MS: '200',
    };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all(open.map((s) => s.close()));
    await Promise.all([stop(api), stop(worker)]);
    const keys = await c.redis.keys(`${prefix}*`);
    if (keys.length > 0) await c.redis.del(...keys);
    await c?.close();
  });

  const execute = async (token: string, body: Record<string, unknown>) => {
    const res = await fetch(`${api!.url}/agent/execute`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const create = async (token: string, prompt: string) => {
    const r = await execute(token, { action: 'create', prompt });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.run_id as string;
  };
  /** Opens a stream and keeps reading it in the background; a refusal is read whole. */
  const stream = async (token: string, path: string): Promise<OpenStream> => {
    const ac = new AbortController();
    const res = await fetch(`${api!.url}${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: ac.signal });
    if (res.status !== 200) return { status: res.status, text: () => '', body: await res.text(), close: async () => undefined };
    let text = '';
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    const pump = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        text += decoder.decode(value, { stream: true });
      }
    })().catch(() => undefined);
    const s: OpenStream = { status: 200, text: () => text, body: '', close: async () => { ac.abort(); await pump; } };
    open.push(s);
    return s;
  };

  it('caps open streams per user (429 too_many_streams) and per process (503 server_busy); a closed stream frees its place', async () => {
    const runA = await create(users.a.token, 'write_file a.txt x');
    const runB = await create(users.b.token, 'write_file b.txt x');
    const runC = await create(users.c.token, 'write_file c.txt x');
    const a1 = await stream(users.a.token, `/v1/runs/${runA}/events`);
    const a2 = await stream(users.a.token, `/agent/logs/${runA}/stream`);
    assert.deepEqual([a1.status, a2.status], [200, 200]);
    const a3 = await stream(users.a.token, `/v1/runs/${runA}/events`);
    assert.equal(a3.status, 429, a3.body);
    assert.equal((JSON.parse(a3.body) as { error: { code: string } }).error.code, 'too_many_streams');
    const b1 = await stream(users.b.token, `/v1/runs/${runB}/events`);
    assert.equal(b1.status, 200);
    const c1 = await stream(users.c.token, `/v1/runs/${runC}/events`);
    assert.equal(c1.status, 503, c1.body);
    assert.equal((JSON.parse(c1.body) as { error: { code: string } }).error.code, 'server_busy');
    await a1.close();
    const c2 = await waitUntil('a place is free again', async () => {
      const s = await stream(users.c.token, `/v1/runs/${runC}/events`);
      return s.status === 200 ? s : undefined;
    }, 10_000);
    assert.equal(c2.status, 200);
    for (const s of [a2, b1, c2]) await s.close();
  });

  it('seeds: create → open the stream → start streams the run (heartbeats while it waits), not a 503', async () => {
    const id = await create(users.a.token, 'write_file seeded.txt hello');
    const s = await waitUntil('a stream place', async () => {
      const o = await stream(users.a.token, `/agent/logs/${id}/stream`);
      return o.status === 200 ? o : undefined;
    }, 10_000);
    await waitUntil('the not-started notice and a heartbeat', () => /: not started: run \S+ is recorded but not started yet/.test(s.text()) && s.text().includes(': heartbeat'), 10_000);
    const started = await execute(users.a.token, { action: 'start', run_id: id });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    await waitUntil('the run streamed to its end', () => /event: end\ndata: \{"status":"completed"/.test(s.text()), 60_000);
    assert.match(s.text(), /event: status\ndata: \{"status":"planning"/);
    assert.match(s.text(), /event: step\n/);
    await s.close();
  });

  it('a stream\'s frames are well-formed HTTP/1.1 chunks (written to the socket ready-made): a strict client reads every event', async () => {
    const id = await create(users.a.token, 'write_file raw.txt x\nread_file raw.txt');
    assert.equal((await execute(users.a.token, { action: 'start', run_id: id })).status, 202);
    const { headers, body } = await new Promise<{ headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const req = httpRequest(`${api!.url}/v1/runs/${id}/events`, { headers: { authorization: `Bearer ${users.a.token}` } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { text += d; });
        res.on('end', () => resolve({ headers: res.headers, body: text }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(headers['transfer-encoding'], 'chunked');
    assert.match(body, /^retry: \d+\n\n/);
    // Only SSE lines: a chunk's size line or CRLF in the body would mean broken framing.
    for (const line of body.split('\n')) assert.match(line, /^(|retry: \d+|id: \d+-\d+|event: \w+|data: \{.*\}|: .*)$/, line);
    assert.match(body, /event: step\n/);
    assert.match(body, /event: end\ndata: \{"status":"completed"/);
  });

  it('a run that ended without ever starting is reported as such: one end event with started: false', async () => {
    const id = newRunId();
    await c.store.createRun({ id, userId: users.b.id, prompt: 'write_file never.txt x', priority: 3, status: 'created' });
    await c.store.updateRun(id, 'failed', { error: { code: 'start_interrupted', message: 'the API stopped between admitting this run and starting it' } });
    const res = await fetch(`${api!.url}/v1/runs/${id}/events`, { headers: { authorization: `Bearer ${users.b.token}` } });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /: not started: this run ended \(failed\) without ever starting/);
    const end = /event: end\ndata: (.*)\n/.exec(text);
    assert.ok(end, text);
    const data = JSON.parse(end[1]!) as { status: string; started: boolean; error: { code: string } };
    assert.equal(data.status, 'failed');
    assert.equal(data.started, false);
    assert.equal(data.error.code, 'start_interrupted');
  });
});
