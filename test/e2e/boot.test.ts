/**
 * A process that cannot do its job refuses to start, with one line saying why
 * (the earlier design's worker ran for days without ever dequeuing a job).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { assertRefused, boot } from '../helpers/boot.ts';
import { stackEnv, startWorker, stop, uniqueQueue } from '../helpers/stack.ts';
import { createRedis } from '../../src/infra/redis.ts';
import { aclRules } from '../../src/infra/redis-acl.ts';
import { STACK_QUEUE_KEY_STEM } from '../../src/dev/services/redis.ts';

// Each test boots a process of its own that must refuse: they wait on connect timeouts side by side.
describe('refusing to start', { concurrency: 3 }, () => {
  let env: Record<string, string>;
  before(() => {
    env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('boot') };
  });

  for (const component of ['worker', 'api'] as const) {
    it(`${component}: Redis unreachable`, async () => {
      assertRefused(await boot(component, { ...env, REDIS_URL: 'redis://127.0.0.1:1' }), component, /Redis at redis:\/\/127\.0\.0\.1:1.* is unreachable/);
    });
    it(`${component}: Temporal unreachable`, async () => {
      assertRefused(await boot(component, { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' }), component, /Temporal at 127\.0\.0\.1:1 is unreachable/);
    });
    it(`${component}: Temporal namespace missing`, async () => {
      assertRefused(await boot(component, { ...env, TEMPORAL_NAMESPACE: 'no-such-namespace' }), component, /namespace no-such-namespace does not exist/);
    });
    it(`${component}: a Redis ACL that does not cover QUEUE_KEY_PREFIX`, async () => {
      // The stack's ACL user may use jobs* keys only: another prefix would hang every run at its first status move.
      assertRefused(await boot(component, { ...env, QUEUE_KEY_PREFIX: 'outside-acl:' }), component, /Redis refuses this process's keys: .*NOPERM.*ACL must allow ~outside-acl:\*/);
    });
    it(`${component}: a Redis ACL without +evalsha (every script runs by hash)`, async () => {
      // A user with the stack's rules but EVALSHA taken away, made through the admin connection.
      const admin = createRedis(env.AGENTRUN_REDIS_ADMIN_URL!, { offlineQueue: true });
      const user = `noevalsha-${component}`;
      const password = randomBytes(12).toString('hex');
      try {
        await admin.call('ACL', 'SETUSER', user, 'reset', `>${password}`, ...aclRules(STACK_QUEUE_KEY_STEM).split(' '), '-evalsha');
        const url = new URL(env.REDIS_URL!);
        url.username = user;
        url.password = password;
        assertRefused(await boot(component, { ...env, REDIS_URL: url.toString() }), component, /Redis refuses EVALSHA: .*NOPERM.*must allow \+evalsha/);
      } finally {
        await admin.call('ACL', 'DELUSER', user);
        admin.disconnect();
      }
    });
    it(`${component}: configuration invalid`, async () => {
      assertRefused(await boot(component, { ...env, S3_ACCESS_KEY_ID: '', EVENT_STREAM_MAXLEN: 'lots' }), component, /(?=.*S3_ACCESS_KEY_ID is required)(?=.*EVENT_STREAM_MAXLEN="lots")/);
    });
  }

  it('api: an explicit AUTH_MODE=none on a non-loopback API_HOST (every caller would be DEFAULT_USER_ID)', async () => {
    const r = await boot('api', { ...env, AUTH_MODE: 'none', AUTH_JWT_SECRET: '', AUTH_JWKS_URL: '', AUTH_API_KEYS: '', API_HOST: '0.0.0.0' });
    assertRefused(r, 'api', /AUTH_MODE=none serves every request as DEFAULT_USER_ID, which is only allowed on a loopback address, and API_HOST=0\.0\.0\.0 is not one/);
    assert.doesNotMatch(r.stdout, /api listening/);
  });

  it('worker: S3 credentials rejected', async () => {
    assertRefused(await boot('worker', { ...env, S3_SECRET_ACCESS_KEY: 'definitely-not-the-key' }), 'worker', /rejected the credentials/);
  });
  it('worker: S3 bucket missing', async () => {
    assertRefused(await boot('worker', { ...env, S3_BUCKET: 'agentrun-no-such-bucket' }), 'worker', /bucket agentrun-no-such-bucket does not exist/);
  });
  it('worker: S3 unreachable', async () => {
    assertRefused(await boot('worker', { ...env, S3_ENDPOINT: 'http://127.0.0.1:1' }), 'worker', /S3 at http:\/\/127\.0\.0\.1:1 is unreachable/);
  });

  it('worker: an MCP stdio server that cannot list its tools is named, with its last words', async () => {
    const servers = { broken: { command: ['sh', '-c', 'echo no such server >&2; exit 3'] } };
    assertRefused(await boot('worker', { ...env, SANDBOX: 'local', MCP_SERVERS: JSON.stringify(servers) }), 'worker', /MCP server "broken" could not list its tools: .*connection closed; stderr: no such server/);
  });
  it('worker: MCP_SERVERS invalid, named without quoting its values', async () => {
    const r = await boot('worker', { ...env, MCP_SERVERS: JSON.stringify({ web: { url: 'ftp://x', headers: { authorization: 'Bearer sekret-token' } } }) });
    assertRefused(r, 'worker', /MCP_SERVERS is invalid: .*url must be an http:\/\/ or https:\/\/ URL/);
    assert.ok(!r.stderr.includes('sekret-token'));
  });
  it('worker: SANDBOX=local without bubblewrap names the fix and the unsafe opt-out', async () => {
    assertRefused(await boot('worker', { ...env, SANDBOX: 'local', SANDBOX_BWRAP: '/nonexistent/bwrap' }), 'worker',
      /SANDBOX=local cannot isolate steps on this machine: bubblewrap \(\/nonexistent\/bwrap\) is not installed \(install bubblewrap.*or set SANDBOX=unsafe-host/);
  });
  it('worker: SANDBOX=local on a machine without user namespaces refuses, naming SANDBOX=unsafe-host', async () => {
    // A user namespace whose own limit allows no further ones: what a kernel without them looks like to bubblewrap.
    const noUserns = ['unshare', '--user', '--map-root-user', 'sh', '-c', 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', 'sh'];
    assertRefused(await boot('worker', { ...env, SANDBOX: 'local' }, noUserns), 'worker',
      /SANDBOX=local cannot isolate steps on this machine: bubblewrap cannot create the namespaces a step needs: .*(ENOSPC|No space left).*SANDBOX=unsafe-host/);
  });
  it('worker: SANDBOX=unsafe-host starts, and says loudly what it gives up', async () => {
    const w = await startWorker({ ...env, SANDBOX: 'unsafe-host' });
    try {
      const warn = w.output().split('\n').find((l) => l.includes('SANDBOX=unsafe-host'));
      assert.ok(warn, w.output());
      assert.equal((JSON.parse(warn) as { level: number }).level, 40);
      assert.match(warn, /can read this worker's secrets/);
    } finally {
      await stop(w);
    }
  });

  it('worker: namespace without the search attributes', async () => {
    const ns = `agentrun-noattrs-${uniqueQueue('ns')}`;
    const r = spawnSync(env.TEMPORAL_CLI!, ['operator', 'namespace', 'create', '--namespace', ns, '--address', env.TEMPORAL_ADDRESS!], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assertRefused(await boot('worker', { ...env, TEMPORAL_NAMESPACE: ns }), 'worker', /lacks search attribute\(s\) AgentStatus, UserId, AgentPriority \(run: temporal operator search-attribute create/);
  });
});
