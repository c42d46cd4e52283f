/**
 * Streaming that holds, against real processes: a private Redis (TLS and an
 * ACL user, so it can be restarted without disturbing other test files), a
 * worker and one API process on it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readSse, type SseMessage } from '../../src/client/sse.ts';
import { freeLoopbackPort } from '../../src/infra/free-port.ts';
import { WorkspaceStore } from '../../src/workspace/store.ts';
import { EventLog } from '../../src/infra/event-log.ts';
import { createRedis } from '../../src/infra/redis.ts';
import { aclFileLine, AGENTRUN_REDIS_USER } from '../../src/infra/redis-acl.ts';
import { sha256Hex } from '../../src/shared/hash.ts';
import { redisKeys } from '../../src/shared/names.ts';
import { compareStreamIds } from '../../src/shared/stream-id.ts';
import { authHeaders } from '../helpers/auth.ts';
import { collect, createRun, parse } from '../helpers/runs.ts';
import { connectClients, metricsUrl, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';


/** A redis-server of the test's own: TLS only, a password on the default user, and agentrun's ACL user (src/infra/redis-acl.ts). */
class PrivateRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'agentrun-redis-'));
  port = 0;
  proc: ChildProcess | undefined;
  readonly password = `pw-${process.pid}-${Date.now()}`;

  async start(): Promise<void> {
    if (!this.port) {
      this.port = await freeLoopbackPort();
      const run = (args: string[]) => new Promise<void>((resolve, reject) => {
        spawn('openssl', args, { stdio: 'ignore' }).once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`openssl ${args[0]} ${code}`))));
      });
      await run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(this.dir, 'key.pem'), '-out', join(this.dir, 'cert.pem'),
        '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
      writeFileSync(join(this.dir, 'users.acl'), [
        // Not `user default off`: Redis 7.0 replays MULTI blocks of the AOF as the default user,
        // and refuses them (NOPERM) if it is off — the data written before a restart would vanish.
        `user default on >default-${this.password} ~* &* +@all`,
        // The keys, channels and commands agentrun uses, nothing else: the same definition the stack manager uses.
        aclFileLine(AGENTRUN_REDIS_USER, sha256Hex(this.password), stackEnv().QUEUE_KEY_PREFIX),
      ].join('\n') + '\n');
    }
    this.proc = spawn('redis-server', [
      '--port', '0', '--tls-port', String(this.port), '--bind', '127.0.0.1',
      '--tls-cert-file', join(this.dir, 'cert.pem'), '--tls-key-file', join(this.dir, 'key.pem'), '--tls-auth-clients', 'no',
      '--aclfile', join(this.dir, 'users.acl'), '--dir', this.dir, '--appendonly', 'yes', '--save', '', '--logfile', join(this.dir, 'redis.log'),
    ], { stdio: 'ignore' });
    const probe = this.client();
    try {
      await waitUntil('private redis', async () => {
        if (probe.status === 'wait' || probe.status === 'end') await probe.connect().catch(() => undefined);
        return (await probe.ping().catch(() => '')) === 'PONG';
      }, 20_000);
    } finally {
      probe.disconnect();
    }
  }

  /** A client of the test's own, as the default (admin) user (trusting the test's certificate). */
  client() {
    return createRedis(`rediss://default:default-${this.password}@127.0.0.1:${this.port}`, { connectTimeoutMs: 1000, tlsCa: readFileSync(join(this.dir, 'cert.pem')) });
  }

  /** What the API and worker use: agentrun's ACL user. */
  get url(): string {
    return `rediss://${AGENTRUN_REDIS_USER}:${this.password}@127.0.0.1:${this.port}`;
  }

  /** Graceful stop: SIGTERM makes Redis fsync its AOF, so nothing acknowledged is lost. */
  async stop(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc!.once('exit', r));
    this.proc.kill('SIGTERM');
    await exited;
  }
}

function assertExactlyOnceInOrder(messages: SseMessage[], expectedLines: number): void {
  const ids = messages.filter((m) => m.id).map((m) => m.id!);
  assert.equal(new Set(ids).size, ids.length, 'no duplicate ids');
  const lines = messages.filter((m) => m.event === 'log').map((m) => String(parse(m).text)).filter((t) => t.startsWith('line-'));
  if (lines.length !== expectedLines) {
    // Where the client's sequence breaks, to tell a skipped range from a cut stream.
    const k = lines.findIndex((t, i) => t !== `line-${i + 1}`);
    const at = k < 0 ? lines.length : k;
    const i = messages.findIndex((m) => m.event === 'log' && String(parse(m).text) === lines[at - 1]);
    const show = messages.slice(Math.max(0, i - 2), i + 4).map((m) => `${m.id} ${m.event} ${String(m.data).slice(0, 40)}`);
    assert.fail(`every line once: ${lines.length} of ${expectedLines}, first wrong at line ${at + 1}; around it:\n${show.join('\n')}`);
  }
  lines.forEach((t, i) => assert.equal(t, `line-${i + 1}`));
  assert.equal(messages.at(-1)?.event, 'end');
}

describe('SSE streaming that holds', { timeout: 900_000 }, () => {
  let c: Clients;
  const redis = new PrivateRedis();
  let env: Record<string, string>;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let user: string;

  before(async () => {
    c = await connectClients();
    await redis.start();
    user = await newUser(c, 100_000, 'sse');
    env = {
      ...stackEnv(), REDIS_URL: redis.url, NODE_EXTRA_CA_CERTS: join(redis.dir, 'cert.pem'),
      TEMPORAL_TASK_QUEUE: uniqueQueue('sse'), DEFAULT_USER_ID: user, MAX_ITERATIONS: '50', SSE_HEARTBEAT_MS: '500', SSE_MAX_STREAMS_PER_USER: '2000',
      // One user opens 1,000+ streams a minute here; the limit itself is counted (see the first test).
      API_RATE_LIMIT: '1000000',
    };
    worker = await startWorker(env);
    api = await startApi(env);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await redis.stop();
    await c?.close();
  });

  it('rate limiting counts through the ACL user (it used to fail open here: the ACL missed api:*)', async () => {
    const remaining = async () => {
      const res = await fetch(`${api!.url}/v1/runs`, { headers: authHeaders(api!.url) });
      assert.equal(res.status, 200);
      await res.body?.cancel();
      return Number(res.headers.get('ratelimit-remaining'));
    };
    const first = await remaining();
    assert.ok((await remaining()) < first, 'the second request is counted');
    assert.doesNotMatch(api!.output(), /rate limit unavailable/);
  });

  it('a client cut off every second during a 5,000-event run receives every event exactly once, in order', async () => {
    const id = await createRun(api!.url, 'shell sh -c "i=1; while [ $i -le 5000 ]; do echo line-$i; i=$((i+1)); [ $((i % 50)) -eq 0 ] && sleep 0.05; done"');
    const got: SseMessage[] = [];
    let cuts = 0;
    for (;;) {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), 1000);
      try {
        for await (const m of readSse(`${api!.url}/v1/runs/${id}/events`, { lastEventId: got.findLast((x) => x.id)?.id, signal: ac.signal, headers: authHeaders(api!.url) })) {
          got.push(m);
        }
        break; // the server ended the stream after `end`
      } catch (err) {
        if (!ac.signal.aborted) throw err;
        cuts += 1;
      } finally {
        clearTimeout(timer);
      }
      if (got.at(-1)?.event === 'end') break;
    }
    assert.ok(cuts >= 3, `cut ${cuts} times`);
    assertExactlyOnceInOrder(got, 5000);
  });

  it('1,000 concurrent SSE clients on one API process all receive every event; slow clients are dropped, memory stays bounded', async (t) => {
    // The kernel's own peak (VmHWM, reset to the current RSS through clear_refs): a sampler in
    // this process misses peaks while a thousand clients' parsing keeps its event loop busy.
    const status = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${api!.child.pid}/status`, 'utf8'))![1]) * 1024;
    try { writeFileSync(`/proc/${api!.child.pid}/clear_refs`, '5'); } catch { /* not allowed here: the peak is then since the API started */ }
    const before = status('VmRSS');
    const id = await createRun(api!.url, 'shell sh -c "sleep 4; i=1; while [ $i -le 300 ]; do echo line-$i; i=$((i+1)); done; head -c 3000000 /dev/zero | tr \\"\\\\000\\" x | fold -w 1000"');
    const clients = Array.from({ length: 1000 }, () => collect(api!.url, id, { timeoutMs: 240_000 }));
    // Slow clients: connect, then never read.
    const slow = await Promise.all(Array.from({ length: 20 }, async () => {
      const res = await fetch(`${api!.url}/v1/runs/${id}/events`, { headers: { accept: 'text/event-stream', ...authHeaders(api!.url) } });
      return res;
    }));
    try {
      const results = await Promise.all(clients);
      const reference = results[0]!.map((m) => m.id).join(',');
      for (const r of results) {
        assertExactlyOnceInOrder(r, 300);
        const mine = r.map((m) => m.id).join(',');
        if (mine !== reference) {
          const a = reference.split(','); const b = mine.split(',');
          const i = a.findIndex((x, k) => x !== b[k]);
          assert.fail(`client differs at ${i}: ${JSON.stringify(results[0]!.slice(i - 1, i + 2))} vs ${JSON.stringify(r.slice(i - 1, i + 2))}`);
        }
      }
      // The slow clients were disconnected by the server rather than buffered without bound.
      await waitUntil('slow clients dropped', async () => {
        const m = await (await fetch(metricsUrl(api!))).text().catch(() => '');
        const v = /^agentrun_sse_clients(?:\{[^}]*\})? (\d+)/m.exec(m);
        if (!v) throw new Error('/metrics has no agentrun_sse_clients series');
        return Number(v[1]) === 0;
      }, 60_000);
    } finally {
      // Also when an assertion fails: an open slow connection would keep the test process alive.
      for (const s of slow) await s.body?.cancel().catch(() => undefined);
    }
    const peak = status('VmHWM');
    t.diagnostic(`API RSS grew by ${Math.round((peak - before) / 1048576)} MiB (peak ${Math.round(peak / 1048576)} MiB)`);
    assert.ok(peak - before < 400 * 1024 * 1024, `API RSS grew by ${Math.round((peak - before) / 1048576)} MiB`);
    // Live events came through the hub's reads (the ACL user allows them), not only through resyncs.
    assert.doesNotMatch(api!.output(), /could not read announced events|could not read the newest events/);
  });

  it('a client that stops reading for a while is not queued for in memory: it reads on from its place, every event once, not dropped', async () => {
    // Steps' output is capped (TOOL_OUTPUT_MAX_BYTES), so the 6 MB that overflow the sockets'
    // buffers are appended to the run's log the way the worker appends, while the run waits.
    const id = await createRun(api!.url, 'shell sleep 8');
    const r = redis.client();
    await r.connect();
    const log = new EventLog(r, { maxLen: 100_000, ttlS: 600 });
    const drops = () => api!.output().split('\n').filter((l) => l.includes('dropping slow SSE client')).length;
    const dropsBefore = drops();
    const pad = 'y'.repeat(1000);
    let appending: Promise<void> | undefined;
    const got: SseMessage[] = [];
    let paused = false;
    try {
      for await (const m of readSse(`${api!.url}/v1/runs/${id}/events`, { headers: authHeaders(api!.url) })) {
        got.push(m);
        appending ??= (async () => {
          for (let b = 0; b < 30; b++) {
            await log.append(id, Array.from({ length: 200 }, (_, i) => ({ key: `bulk:${b * 200 + i}`, type: 'log' as const, data: { stream: 'stdout', text: `bulk-${b * 200 + i + 1} ${pad}` } })));
          }
        })();
        if (!paused && m.event === 'log' && String(parse(m).text).startsWith('bulk-')) {
          paused = true;
          await new Promise((res) => setTimeout(res, 4000)); // reads nothing meanwhile
        }
      }
      await appending;
    } finally {
      r.disconnect();
    }
    assert.ok(paused, 'the client paused while the events flowed');
    const bulk = got.filter((m) => m.event === 'log' && String(parse(m).text).startsWith('bulk-')).map((m) => String(parse(m).text).split(' ')[0]);
    assert.equal(bulk.length, 6000, 'every event once');
    bulk.forEach((t, i) => assert.equal(t, `bulk-${i + 1}`));
    assert.equal(got.at(-1)?.event, 'end');
    assert.equal(drops(), dropsBefore, 'the client was not dropped');
  });

  it('Redis restarted during a run: requests needing it fail fast with 503, clients resume with nothing lost', async () => {
    const id = await createRun(api!.url, 'shell sh -c "i=1; while [ $i -le 600 ]; do echo line-$i; i=$((i+1)); sleep 0.02; done"');
    const stream = collect(api!.url, id, { timeoutMs: 240_000 });
    await waitUntil('output flowing', async () => {
      const r = redis.client();
      try { await r.connect(); return (await r.xlen(redisKeys.events(id))) > 50; } finally { r.disconnect(); }
    });
    await redis.stop();
    const t0 = Date.now();
    // A new stream needs Redis: 503 at once, no offline queue. (Creating runs does not: they start on Temporal.)
    const res = await fetch(`${api!.url}/v1/runs/${id}/events`, { headers: { accept: 'text/event-stream', ...authHeaders(api!.url) } });
    assert.equal(res.status, 503);
    assert.ok(Date.now() - t0 < 5000, 'fails fast');
    assert.match(JSON.stringify(await res.json()), /redis/i);
    // Keep it down until the worker has felt it: a flush of the step's output failed and is being retried.
    const flushFailures = () => worker!.output().split('\n').filter((l) => l.includes('log flush failed')).length;
    const failuresBefore = flushFailures();
    await waitUntil('the worker retrying a log flush', () => flushFailures() > failuresBefore);
    await redis.start();
    const got = await stream;
    const r = redis.client();
    await r.connect();
    const lines = (await r.xrange(redisKeys.events(id), '-', '+')).filter(([, f]) => f[1] === 'log').map(([, f]) => String((JSON.parse(f[3]!) as { text: string }).text));
    r.disconnect();
    const missing = Array.from({ length: 600 }, (_, i) => `line-${i + 1}`).filter((l) => !lines.includes(l));
    assert.deepEqual(missing.length === 0 ? [] : [missing.length, missing[0], missing.at(-1)], [], `every line reached the stream (worker log: ${worker!.output().split('\n').filter((l) => /flush|redis/i.test(l)).slice(0, 5).join(' | ')})`);
    assertExactlyOnceInOrder(got, 600);
  });

  it('a client whose id is older than the stream holds gets a gap notice and the backfill from the S3 archive', async () => {
    const id = await createRun(api!.url, 'shell sh -c "i=1; while [ $i -le 1500 ]; do echo line-$i; i=$((i+1)); done"');
    const all = await collect(api!.url, id, { timeoutMs: 120_000 });
    assertExactlyOnceInOrder(all, 1500);
    // The worker archives the log right after appending `end`, which a client may see first.
    await waitUntil('the run\'s log archived', async () => (await new WorkspaceStore({ s3: c.s3, bucket: c.config.s3.bucket, fileMaxBytes: c.config.workspace.fileMaxBytes }).readArchive(user, id, undefined))?.some((e) => e.type === 'end'));
    const r = redis.client();
    await r.connect();
    try {
      // The stream loses its head (MAXLEN reached): an old id gets the gap notice, then the archive.
      await r.xtrim(redisKeys.events(id), 'MAXLEN', 100);
      const old = all[5]!.id!;
      const fromOld = await collect(api!.url, id, { lastEventId: old });
      const gap = fromOld.find((m) => m.event === 'gap');
      assert.ok(gap, 'gap notice');
      assert.equal(parse(gap).backfill, 'archive');
      const expected = all.filter((m) => m.id && compareStreamIds(m.id, old) > 0).map((m) => m.id);
      const got = fromOld.filter((m) => m.event !== 'gap').map((m) => m.id);
      assert.deepEqual(got, expected, `every later event exactly once, in order (got ${got.length}, expected ${expected.length}; gap ${gap.data})`);
      // The stream expired altogether (its TTL after the run): a replay from the start comes from the archive.
      await r.del(redisKeys.events(id));
      const replay = await collect(api!.url, id);
      assert.equal(parse(replay.find((m) => m.event === 'gap')!).reason, 'missing');
      assert.deepEqual(replay.filter((m) => m.event !== 'gap').map((m) => m.id), all.map((m) => m.id));
    } finally {
      r.disconnect();
    }
  });
});
