/**
 * The worker's own gauges that k8s/base/prometheus-rule.yaml alerts on:
 * agentrun_worker_polling follows its readiness, agentrun_worker_redis_up is 1 only
 * when the stack's real Redis answers PING in time (paused with CLIENT PAUSE: 0).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRedis, type Redis } from '../../src/infra/redis.ts';
import { createWorkerRegistry, redisUp } from '../../src/worker/metrics.ts';
import { stackEnv } from '../helpers/stack.ts';

const INFO = { taskQueue: 'agentrun', namespace: 'default' };
/** The value of an unlabelled series in the registry's exposition. */
async function sample(registry: ReturnType<typeof createWorkerRegistry>, name: string): Promise<number | undefined> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('worker gauges the alerts read', () => {
  let admin: Redis;
  before(async () => {
    const env = stackEnv();
    admin = createRedis(env.AGENTRUN_REDIS_ADMIN_URL || env.REDIS_URL!, { offlineQueue: true });
    await admin.connect();
  });
  after(() => admin.disconnect());

  it('agentrun_worker_polling is 1 while ready, 0 when not; absent without a readiness probe', async () => {
    let ready = true;
    const registry = createWorkerRegistry(INFO, { readiness: () => ({ ready }) });
    assert.equal(await sample(registry, 'agentrun_worker_polling'), 1);
    ready = false;
    assert.equal(await sample(registry, 'agentrun_worker_polling'), 0);
    assert.equal(await sample(createWorkerRegistry(INFO), 'agentrun_worker_polling'), undefined);
  });

  it('agentrun_worker_redis_up is 1 while Redis answers', async () => {
    assert.equal(await sample(createWorkerRegistry(INFO, { redis: admin }), 'agentrun_worker_redis_up'), 1);
  });

  it('redisUp is 0 when PING gets no answer in time (CLIENT PAUSE), and 1 again after', async () => {
    const probe = createRedis(stackEnv().REDIS_URL!, { offlineQueue: true });
    await probe.connect();
    try {
      await admin.call('CLIENT', 'PAUSE', '700', 'ALL');
      assert.equal(await redisUp(probe, 200), 0);
      // The paused PING is answered once the pause ends.
      assert.equal(await redisUp(probe, 10_000), 1);
    } finally {
      await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
      probe.disconnect();
    }
  });

  it('redisUp is 0 without a connection, and does not queue a PING', async () => {
    const refused = createRedis('redis://127.0.0.1:1', { offlineQueue: true });
    try {
      assert.equal(refused.status, 'wait');
      assert.equal(await redisUp(refused, 200), 0);
      assert.equal(refused.status, 'wait', 'no connection attempt, no queued command');
    } finally {
      refused.disconnect();
    }
  });
});
