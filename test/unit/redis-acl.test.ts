/** The Redis ACL is defined once: it covers every key builder, and README shows it verbatim. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { aclKeyPatterns, ACL_CHANNEL_PATTERNS, aclRules } from '../../src/infra/redis-acl.ts';
import { queueKeys, redisKeys } from '../../src/shared/names.ts';

/** Redis glob matching, for the `*` patterns used here. */
const matches = (pattern: string, key: string) => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(key);

describe('Redis ACL of the API and worker', () => {
  it('allows every key the code builds, under the configured queue prefix', () => {
    const run = 'run_01jabcdefghjkmnpqrstvwxyz0';
    const keys = [redisKeys.events(run), redisKeys.eventDedupe(run), redisKeys.workerHeartbeat, redisKeys.rateLimit('u-1'), redisKeys.idempotency('u-1', 'ab'.repeat(32))];
    for (const prefix of ['jobs:', 'tenant-a:jobs:']) {
      const patterns = aclKeyPatterns(prefix);
      for (const k of [...keys, ...Object.values(queueKeys(prefix))]) assert.ok(patterns.some((p) => matches(p, k)), `${k} allowed with prefix ${prefix}`);
      for (const k of ['other:key', 'jobsx', 'api:other', 'agent:logs:x', 'worker:other']) assert.ok(!patterns.some((p) => matches(p, k)), `${k} refused`);
    }
    assert.ok(ACL_CHANNEL_PATTERNS.some((p) => matches(p, redisKeys.logsChannel(run))));
  });

  it('README gives the production ACL exactly as the code defines it', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    assert.ok(readme.includes(`ACL SETUSER agentrun reset >PASSWORD ${aclRules()}\n`), 'README "Redis is a transport, never an authority" shows aclRules()');
    assert.doesNotMatch(aclRules(), /\+@all|@dangerous|\+keys|\+config|\+flushall|\+acl/);
  });
});
