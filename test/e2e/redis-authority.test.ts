/**
 * Redis is a transport, never an authority — each claim tried as an attack by someone
 * holding the API's own Redis credentials (REDIS_URL, the ACL user): forged queue
 * entries start nothing, forged pub/sub messages reach no client, the ACL user cannot
 * leave its keys, and rate limiting works through it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { newRunId } from '../../src/runs/ids.ts';
import { QueueFacade } from '../../src/infra/queue.ts';
import { createRedis } from '../../src/infra/redis.ts';
import type { Redis } from '../../src/infra/redis.ts';
import { signIngress } from '../../src/shared/ingress-signature.ts';
import { queueKeys, redisKeys } from '../../src/shared/names.ts';
import type { FailedEntry } from '../../src/shared/queue.ts';
import { isStreamId } from '../../src/shared/stream-id.ts';
import { assertRefused, boot } from '../helpers/boot.ts';
import { apiFetch, mintToken } from '../helpers/auth.ts';
import { collect, createRun, parse } from '../helpers/runs.ts';
import { connectClients, newUser, ROOT, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

const sh = promisify(execFile);

describe('Redis is a transport, never an authority', { timeout: 600_000 }, () => {
  let c: Clients;
  let env: Record<string, string>;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  /** A connection with the API's own credentials: what an attacker inside the trust boundary of Redis has. */
  let app: Redis;
  let queue: QueueFacade;
  let user: string;
  let keys: ReturnType<typeof queueKeys>;

  before(async () => {
    c = await connectClients();
    user = await newUser(c, 10_000, 'authority');
    env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('authority'), DEFAULT_USER_ID: user, QUEUE_POLL_MS: '50', WORKER_METRICS_PORT: '0', AUTH_OPERATORS: user, SSE_HEARTBEAT_MS: '500' };
    keys = queueKeys(env.QUEUE_KEY_PREFIX);
    queue = new QueueFacade(c.redis, env.QUEUE_KEY_PREFIX);
    app = createRedis(env.REDIS_URL!, { offlineQueue: true });
    await app.connect();
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    app?.disconnect();
    await c?.close();
  });

  const createdRecord = async (userId: string, prompt: string) => {
    const id = newRunId();
    await c.store.createRun({ id, userId, prompt, priority: 3, status: 'created' });
    return id;
  };
  const inTemporal = async (id: string) => (await c.temporal.workflow.getHandle(id).describe().catch(() => undefined)) !== undefined;
  const deadLetters = (jobs: string[]) => waitUntil(`${jobs.length} dead letters`, async () => {
    const failed = (await queue.listFailed()).map((f) => f.entry);
    const mine = jobs.map((j) => failed.find((f) => f.job === j));
    return mine.every(Boolean) ? (mine as FailedEntry[]) : undefined;
  });

  it('entries without a signature, with a wrong one or another run\'s go to jobs:failed as bad_signature and start nothing', async () => {
    const victim = await newUser(c, 10_000, 'victim');
    const id = await createdRecord(victim, 'write_file victim.txt mine');
    const base = { run_id: id, enqueued_at: new Date().toISOString(), priority: 0, retry_count: 0 };
    const forged = [
      JSON.stringify(base),
      JSON.stringify({ ...base, sig: signIngress(randomBytes(32).toString('base64url'), id) }),
      JSON.stringify({ ...base, sig: signIngress(env.INGRESS_SIGNING_SECRET!, newRunId()) }),
      JSON.stringify({ ...base, sig: 'not hex' }),
    ];
    await app.lpush(keys.pending, ...forged.slice(0, 2));
    await app.lpush(keys.highPriority, ...forged.slice(2));
    const dead = await deadLetters(forged);
    for (const d of dead) {
      assert.equal(d.reason.code, 'bad_signature');
      assert.equal(d.run_id, id);
    }
    assert.match(dead[0]!.reason.message, /no "sig"/);
    assert.match(dead[1]!.reason.message, /does not match agentrun-ingress-v1:run_/);
    assert.match(dead[3]!.reason.message, /64 lowercase hex/);
    assert.equal(await inTemporal(id), false);
    assert.equal((await c.store.getRun(id))?.status, 'created');
    // An operator's retry sends it back verbatim (never re-signed): refused again.
    const retried = await apiFetch(`${api!.url}/v1/queue/failed/${dead[0]!.id}/retry`, { method: 'POST' });
    assert.equal(retried.status, 202);
    await waitUntil('refused again', async () => (await queue.listFailed()).some((f) => f.entry.job === forged[0] && f.entry.id !== dead[0]!.id));
    assert.equal(await inTemporal(id), false);
  });

  it('a forged jobs:retry entry for another user\'s run (or carrying a run record to create) starts nothing', async () => {
    const victim = await newUser(c, 10_000, 'victim');
    const victimRun = await createdRecord(victim, 'write_file victim.txt mine');
    const injected = newRunId();
    const now = new Date(Date.now() - 1000).toISOString();
    const jobs = [
      JSON.stringify({ run_id: victimRun, enqueued_at: now, retry_count: 0 }),
      JSON.stringify({ run_id: injected, enqueued_at: now, retry_count: 0, retry_of: victimRun }),
    ];
    // The old format created `record` before requeueing: a run as the victim with the attacker's prompt.
    await app.lpush(keys.retry,
      JSON.stringify({ id: 'dlq_forged1', kind: 'requeue', job: jobs[0], retry_at: now, retry_count: 0 }),
      JSON.stringify({ id: 'dlq_forged2', kind: 'requeue', job: jobs[1], retry_at: now, retry_count: 0, record: { id: injected, userId: victim, prompt: 'shell cat /etc/passwd', priority: 1 } }));
    const dead = await deadLetters(jobs);
    assert.deepEqual(dead.map((d) => d.reason.code), ['bad_signature', 'bad_signature']);
    assert.equal(await c.store.getRun(injected), undefined, 'no record was created from Redis data');
    assert.equal((await c.store.getRun(victimRun))?.status, 'created');
    assert.equal(await inTemporal(victimRun), false);
    assert.equal(await inTemporal(injected), false);
    assert.equal((await c.redis.lrange(keys.retry, 0, -1)).length, 0);
  });

  it('a signed retry_of naming another user\'s run is refused (bad_retry): a retry repeats a run of the same user', async () => {
    const victim = await newUser(c, 10_000, 'victim');
    const failed = newRunId();
    await c.store.createRun({ id: failed, userId: victim, prompt: 'write_file secret.txt victim', priority: 3, status: 'failed' });
    const mine = await createdRecord(user, 'shell ls');
    const job = JSON.stringify({ run_id: mine, retry_of: failed, sig: signIngress(env.INGRESS_SIGNING_SECRET!, mine, failed) });
    await app.lpush(keys.pending, job);
    const [dead] = await deadLetters([job]);
    assert.equal(dead!.reason.code, 'bad_retry');
    assert.equal(await inTemporal(mine), false);
  });

  it('a signed retry whose new record is missing (a crash after the dead-letter move) gets it from the failed run\'s record', async () => {
    const failed = newRunId();
    await c.store.createRun({ id: failed, userId: user, prompt: 'write_file again.txt from the failed run', priority: 2, status: 'failed' });
    const id = newRunId();
    await app.lpush(keys.pending, JSON.stringify({ run_id: id, retry_of: failed, retry_count: 1, sig: signIngress(env.INGRESS_SIGNING_SECRET!, id, failed) }));
    await waitUntil('the retried run started', () => inTemporal(id), 30_000);
    assert.equal(((await c.temporal.workflow.getHandle(id).result()) as { status: string }).status, 'completed');
    const record = await c.store.getRun(id);
    assert.deepEqual([record?.user_id, record?.prompt, record?.priority], [user, 'write_file again.txt from the failed run', 2]);
  });

  it('a producer following README\'s openssl recipe gets its run started', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('SIG=$(printf');
    const recipe = readme.slice(start, readme.indexOf('\n```', start));
    assert.match(recipe, /openssl dgst -sha256 -hmac "\$INGRESS_SIGNING_SECRET"/);
    assert.match(recipe, /LPUSH jobs:pending/);
    const id = await createdRecord(user, 'write_file signed.txt by openssl');
    // Exactly README's two lines, onto this test's own pending list.
    await sh('sh', ['-c', recipe.replace('LPUSH jobs:pending', `LPUSH ${keys.pending}`)], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', RUN_ID: id, INGRESS_SIGNING_SECRET: env.INGRESS_SIGNING_SECRET!, REDIS_URL: env.REDIS_URL! },
    });
    await waitUntil('the signed run started', () => inTemporal(id), 30_000);
    assert.equal(((await c.temporal.workflow.getHandle(id).result()) as { status: string }).status, 'completed');
  });

  it('the API refuses to run the consumer without INGRESS_SIGNING_SECRET, with one line', async () => {
    assertRefused(await boot('api', { ...env, INGRESS_SIGNING_SECRET: '' }), 'api', /INGRESS_SIGNING_SECRET is not set.*QUEUE_CONSUMER=false/);
  });

  it('forged pub/sub messages on a run\'s channel never reach a client; every real event arrives once, in order', async () => {
    const id = await createRun(api!.url, 'shell sh -c "i=1; while [ $i -le 300 ]; do echo line-$i; i=$((i+1)); sleep 0.01; done"');
    const stream = collect(api!.url, id, { timeoutMs: 120_000 });
    let done = false;
    void stream.finally(() => { done = true; });
    let heard = 0;
    while (!done) {
      const [latest, before] = await c.redis.xrevrange(redisKeys.events(id), '+', '-', 'COUNT', 2);
      const last = latest?.[0] ?? '';
      const forged = [
        // A made-up id far ahead, claiming to follow the real last entry: trusted, it would skip every later event.
        `99999999999999-0 ${last}\nlog\n{"text":"FORGED-ahead"}`,
        // A real id with made-up data.
        ...(latest ? [`${last} ${before?.[0] ?? ''}\nlog\n{"text":"FORGED-real-id"}`] : []),
        // An id the stream never had, ending the stream; a bogus id; an attempt to inject SSE fields.
        `1-0\nend\n{"status":"completed","text":"FORGED-end"}`,
        'not-an-id\nlog\n{"text":"FORGED-bogus"}',
        '1-1\nevent: end\ndata: FORGED-injected\n\nlog\n{}',
      ];
      for (const m of forged) heard += await app.publish(redisKeys.logsChannel(id), m);
      await new Promise((r) => setTimeout(r, 20));
    }
    const got = await stream;
    assert.ok(heard > 20, `forged messages reached the API's subscriber (${heard})`);
    assert.doesNotMatch(JSON.stringify(got), /FORGED/);
    for (const m of got) if (m.id !== undefined) assert.ok(isStreamId(m.id), `id ${m.id}`);
    const real = (await c.redis.xrange(redisKeys.events(id), '-', '+')).map(([rid]) => rid);
    assert.deepEqual(got.filter((m) => m.id).map((m) => m.id), real, 'every stream entry once, in order, and nothing else');
    assert.deepEqual(got.filter((m) => m.event === 'log').map((m) => String(parse(m).text)).filter((t) => t.startsWith('line-')),
      Array.from({ length: 300 }, (_, i) => `line-${i + 1}`));
    assert.equal(got.at(-1)?.event, 'end');
    assert.match(api!.output(), /pub\/sub message ignored/);
    // The hub's reads of announced entries work through the ACL user (a refused read would only show as resyncs).
    assert.doesNotMatch(api!.output(), /could not read announced events|could not read the newest events/);
  });

  it('the ACL user reaches no key, channel or command outside its patterns', async () => {
    const outside = `outside:${randomBytes(4).toString('hex')}`;
    await c.redis.set(outside, 'kept');
    const refused = async (what: string, p: Promise<unknown>) => {
      await assert.rejects(p, /NOPERM|user executing the script can't access/, what);
    };
    await refused('GET another key', app.get(outside));
    await refused('SET another key', app.set(outside, 'changed'));
    await refused('DEL another key', app.del(outside));
    await refused('a script touching another key', app.eval(`return redis.call('SET', '${outside}', 'changed')`, 0));
    await refused('a script declaring another key', app.eval(`return redis.call('GET', KEYS[1])`, 1, outside));
    await refused('KEYS', app.keys('*'));
    await refused('SCAN', app.scan(0));
    await refused('CONFIG GET', app.config('GET', 'requirepass'));
    await refused('CONFIG SET', app.call('CONFIG', 'SET', 'appendonly', 'no'));
    await refused('FLUSHALL', app.flushall());
    await refused('FLUSHDB', app.flushdb());
    await refused('ACL LIST', app.call('ACL', 'LIST'));
    await refused('ACL SETUSER', app.call('ACL', 'SETUSER', 'agentrun', '+@all'));
    await refused('CLIENT LIST', app.call('CLIENT', 'LIST'));
    await refused('SCRIPT FLUSH', app.call('SCRIPT', 'FLUSH'));
    await refused('MODULE LIST', app.call('MODULE', 'LIST'));
    await refused('PUBLISH on another channel', app.publish('other-channel', 'x'));
    const sub = createRedis(env.REDIS_URL!, { offlineQueue: true });
    try {
      await sub.connect();
      await refused('SUBSCRIBE another channel', sub.subscribe('other-channel'));
    } finally {
      sub.disconnect();
    }
    assert.equal(await c.redis.get(outside), 'kept');
    await c.redis.del(outside);
  });

  it('rate limiting and idempotency work through the ACL user: a 429 appears, a replay is answered from Redis', async () => {
    const limited = await startApi({ ...env, API_RATE_LIMIT: '3', API_RATE_WINDOW_S: '60', QUEUE_CONSUMER: 'false' });
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      const token = await mintToken(await newUser(c, 0, 'limited')); // a user with a fresh window
      for (let i = 0; i < 5; i += 1) {
        const res = await fetch(`${limited.url}/v1/runs`, { headers: { authorization: `Bearer ${token}` } });
        statuses.push(res.status);
        if (res.status === 429) retryAfter = res.headers.get('retry-after');
        await res.body?.cancel();
      }
      assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
      assert.ok(Number(retryAfter) >= 1, `Retry-After ${retryAfter}`);
      assert.doesNotMatch(limited.output(), /rate limit unavailable/);
    } finally {
      await stop(limited);
    }
    const key = `authority-${randomBytes(4).toString('hex')}`;
    const post = () => apiFetch(`${api!.url}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify({ prompt: 'write_file idem.txt once' }) });
    const first = await post();
    assert.equal(first.status, 202);
    const second = await post();
    assert.equal(second.headers.get('idempotent-replayed'), 'true');
    assert.equal(((await second.json()) as { id: string }).id, ((await first.json()) as { id: string }).id);
  });
});
