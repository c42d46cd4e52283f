/**
 * AgentRun v0 end to end, through the real API and worker processes, against
 * the real Temporal dev server, Redis and MinIO.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';
import { apiFetch, authHeaders } from '../helpers/auth.ts';
import { collect, createRun, parse } from '../helpers/runs.ts';
import { readSse } from '../../src/client/sse.ts';
import { redisKeys, s3Keys } from '../../src/shared/names.ts';

describe('agent runs through the HTTP API', () => {
  let env: Record<string, string>;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let c: Clients;
  let user: string;

  before(async () => {
    c = await connectClients();
    user = await newUser(c, 100_000, 'runs');
    env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('runs'), SSE_HEARTBEAT_MS: '200', DEFAULT_USER_ID: user };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c?.close();
  });

  it('completes a run: its file is in MinIO and its stream shows every step, ending with end', async () => {
    const id = await createRun(api!.url, 'Greet.\nwrite_file out/greeting.txt hello world\nshell echo hi\nread_file out/greeting.txt');
    const events = await collect(api!.url, id);
    const types = events.map((e) => e.event);
    assert.equal(types.at(-1), 'end');
    assert.equal(parse(events.at(-1)!).status, 'completed');
    const completed = events.filter((e) => e.event === 'step' && parse(e).phase === 'completed').map((e) => parse(e).index);
    assert.deepEqual(completed, [0, 1, 2]);
    assert.ok(events.some((e) => e.event === 'log' && parse(e).text === 'hi'));
    for (const e of events) assert.match(e.id ?? '', /^\d+-\d+$/);

    const obj = await c.s3.send(new GetObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.file(user, id, 'out/greeting.txt') }));
    assert.equal(await obj.Body!.transformToString(), 'hello world');

    const run = (await (await apiFetch(`${api!.url}/v1/runs/${id}`)).json()) as { status: string; steps: unknown[]; plan: { steps: unknown[] } };
    assert.equal(run.status, 'completed');
    assert.equal(run.steps.length, 3);
  });

  it('fails a run whose prompt the offline planner cannot read, naming the line, and returns its whole reservation', async () => {
    const before = await c.store.balance(user);
    const id = await createRun(api!.url, 'Greet.\nwrite_file');
    const events = await collect(api!.url, id);
    const statuses = events.filter((e) => e.event === 'status').map((e) => parse(e).status);
    assert.deepEqual(statuses, ['queued', 'planning', 'failed']);
    const end = parse(events.at(-1)!);
    assert.equal(end.status, 'failed');
    assert.deepEqual(end.error, { code: 'InvalidPrompt', message: 'prompt line 2: write_file needs a path' });
    assert.deepEqual(await c.store.balance(user), before, 'the reservation was released, nothing charged');
  });

  it('resumes with Last-Event-ID: every remaining event exactly once, in order', async () => {
    const id = await createRun(api!.url, 'shell sh -c "for i in $(seq 1 30); do echo line $i; sleep 0.05; done"\nwrite_file done.txt ok');
    const firstPart = await collect(api!.url, id, { stopAfter: 5 });
    assert.equal(firstPart.length, 5);
    const rest = await collect(api!.url, id, { lastEventId: firstPart.at(-1)!.id });
    const seen = [...firstPart, ...rest].map((e) => e.id);
    const all = (await c.redis.xrange(redisKeys.events(id), '-', '+')).map(([eid]) => eid);
    assert.deepEqual(seen, all, 'the two connections together saw the whole stream once, in order');
    assert.equal(rest.at(-1)!.event, 'end');
    const lines = [...firstPart, ...rest].filter((e) => e.event === 'log' && parse(e).stream === 'stdout').map((e) => parse(e).text);
    assert.deepEqual(lines, Array.from({ length: 30 }, (_, i) => `line ${i + 1}`));
  });

  it('keeps an idle stream open with heartbeat comments and reports progress while running', async () => {
    const id = await createRun(api!.url, 'shell sleep 1.5');
    let heartbeats = 0;
    const types: string[] = [];
    for await (const m of readSse(`${api!.url}/v1/runs/${id}/events`, { headers: authHeaders(api!.url), onComment: (t) => { if (t === 'heartbeat') heartbeats += 1; } })) {
      types.push(m.event);
      if (m.event === 'step' && parse(m).phase === 'started') {
        const run = (await (await apiFetch(`${api!.url}/v1/runs/${id}`)).json()) as { status: string; currentStep: number };
        assert.equal(run.status, 'running');
        assert.equal(run.currentStep, 0);
      }
    }
    assert.ok(heartbeats >= 2, `heartbeats: ${heartbeats}`);
    assert.equal(types.at(-1), 'end');
  });

  it('replays a finished run from the start and from any id', async () => {
    const id = await createRun(api!.url, 'write_file a.txt x');
    const full = await collect(api!.url, id);
    const fromMiddle = await collect(api!.url, id, { lastEventId: full[1]!.id });
    assert.deepEqual(fromMiddle.map((e) => e.id), full.slice(2).map((e) => e.id));
  });

  it('rejects malformed bodies with a 400 naming the problem, and unknown runs with 404', async () => {
    const post = (body: string, type = 'application/json') => apiFetch(`${api!.url}/v1/runs`, { method: 'POST', headers: { 'content-type': type }, body });
    const cases: [string, number, string, RegExp][] = [
      ['{"prompt":', 400, 'invalid_json', /JSON/],
      ['{}', 400, 'invalid_request', /^prompt: is required/],
      ['{"prompt": 42}', 400, 'invalid_request', /^prompt: must be a string/],
      ['{"prompt": "   "}', 400, 'invalid_request', /^prompt: must not be empty/],
      ['[]', 400, 'invalid_request', /expected object/],
      ['{"prompt":"x","promt":"typo"}', 400, 'invalid_request', /promt/],
      // The database cannot store U+0000: once answered 503 "the database is unavailable", on every retry.
      ['{"prompt":"write_file a.txt x\\u0000y"}', 400, 'invalid_request', /^prompt: must not contain NUL characters/],
    ];
    for (const [body, status, code, message] of cases) {
      const res = await post(body);
      const json = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(res.status, status, body);
      assert.equal(json.error.code, code, body);
      assert.match(json.error.message, message, body);
    }
    const big = await post(JSON.stringify({ prompt: 'x'.repeat(400_000) }));
    assert.equal(big.status, 413);
    const wrongType = await post('prompt=x', 'application/x-www-form-urlencoded');
    assert.equal(wrongType.status, 415);

    for (const path of ['/v1/runs/run_00000000000000000000000000', '/v1/runs/nope', '/v1/runs/run_00000000000000000000000000/events', '/v1/nothing']) {
      const res = await apiFetch(`${api!.url}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
    }
    const badId = await apiFetch(`${api!.url}/v1/runs/${await createRun(api!.url, 'write_file a x')}/events`, { headers: { 'Last-Event-ID': 'garbage' } });
    assert.equal(badId.status, 400);
  });

  it('ends a run as cancelled on `temporal workflow cancel`, and its stream ends', async () => {
    const id = await createRun(api!.url, 'shell sleep 60\nwrite_file never.txt x');
    const events = collect(api!.url, id, { timeoutMs: 60_000 });
    await waitUntil('shell step started', async () => (await c.redis.xrange(redisKeys.events(id), '-', '+')).some(([, f]) => f.includes('step') && f.join().includes('"started"')));
    const r = spawnSync(env.TEMPORAL_CLI!, ['workflow', 'cancel', '--workflow-id', id, '--address', env.TEMPORAL_ADDRESS!, '--namespace', 'default'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const got = await events;
    assert.equal(got.at(-1)!.event, 'end');
    assert.equal(parse(got.at(-1)!).status, 'cancelled');
    const run = (await (await apiFetch(`${api!.url}/v1/runs/${id}`)).json()) as { status: string };
    assert.equal(run.status, 'cancelled');
    // `end` is published just before the workflow closes: wait for the close.
    await waitUntil('the workflow closed', async () => (await c.temporal.workflow.getHandle(id).describe()).status.name !== 'RUNNING', 30_000);
    assert.equal((await c.temporal.workflow.getHandle(id).describe()).status.name, 'CANCELLED');
    await assert.rejects(c.s3.send(new HeadObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.file(user, id, 'never.txt') })));
  });
});
