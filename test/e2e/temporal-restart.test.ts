/**
 * Durability across a Temporal server restart: the dev server keeps its state in
 * a SQLite file (--db-filename), so a run in flight when the server dies
 * completes after it comes back. Uses a private dev server on free ports.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { temporalDevArgs } from '../../src/dev/services/temporal.ts';
import { freeLoopbackPort } from '../../src/infra/free-port.ts';
import { redisKeys, s3Keys } from '../../src/shared/names.ts';
import { collect, createRun, parse } from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';


describe('a Temporal server restart mid-run', () => {
  let dir: string;
  let server: ChildProcess | undefined;
  let args: string[];
  let env: Record<string, string>;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let c: Clients;

  const startServer = async () => {
    server = spawn(env.TEMPORAL_CLI!, args, { stdio: 'ignore' });
    await waitUntil('private Temporal dev server healthy', () => {
      const r = spawnSync(env.TEMPORAL_CLI!, ['operator', 'cluster', 'health', '--address', env.TEMPORAL_ADDRESS!], { encoding: 'utf8' });
      return r.status === 0 && r.stdout.includes('SERVING');
    }, 60_000);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentrun-temporal-'));
    const [port, httpPort, metricsPort] = [await freeLoopbackPort(), await freeLoopbackPort(), await freeLoopbackPort()];
    args = temporalDevArgs({ port, httpPort, metricsPort, dbFile: join(dir, 'temporal.db') });
    c = await connectClients();
    const user = await newUser(c, 10_000, 'restart');
    env = { ...stackEnv(), TEMPORAL_ADDRESS: `127.0.0.1:${port}`, TEMPORAL_TASK_QUEUE: uniqueQueue('restart'), DEFAULT_USER_ID: user };
    await startServer();
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    server?.kill('SIGKILL');
    await c?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('completes the run after the server is killed and restarted on the same database', async () => {
    const id = await createRun(api!.url, 'shell sh -c "sleep 2; echo after the restart"\nwrite_file r.txt survived');
    await waitUntil('shell step started', async () => (await c.redis.xrange(redisKeys.events(id), '-', '+')).some(([, f]) => f[3]!.includes('"started"')));
    server!.kill('SIGKILL');
    await new Promise((r) => server!.once('exit', r));
    await startServer();

    const events = await collect(api!.url, id, { timeoutMs: 120_000 });
    assert.equal(events.at(-1)!.event, 'end');
    assert.equal(parse(events.at(-1)!).status, 'completed');
    await c.s3.send(new HeadObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.file(env.DEFAULT_USER_ID!, id, 'r.txt') }));
  });
});
