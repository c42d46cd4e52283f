import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONFIG_VARS, ConfigError, loadConfig } from '../../src/shared/config.ts';

const secrets = { S3_ACCESS_KEY_ID: 'local-key', S3_SECRET_ACCESS_KEY: 'local-secret-value', DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/agentrun' };

describe('config', () => {
  it('applies defaults and builds typed slices', () => {
    const c = loadConfig({ ...secrets });
    assert.equal(c.temporal.address, '127.0.0.1:17233');
    assert.equal(c.s3.forcePathStyle, true);
    assert.equal(c.api.port, 18080);
    assert.equal(c.llm.provider, 'offline');
  });

  it('refuses missing secrets and bad values in one line naming each variable, never echoing secrets', () => {
    assert.throws(() => loadConfig({}), (e: unknown) => e instanceof ConfigError && /S3_ACCESS_KEY_ID is required/.test(e.message) && !e.message.includes('\n'));
    assert.throws(() => loadConfig({ ...secrets, REDIS_URL: 'http://x' }), /REDIS_URL="http:\/\/x"/);
    assert.throws(() => loadConfig({ ...secrets, API_PORT: 'eighty' }), /API_PORT/);
    assert.throws(() => loadConfig({ ...secrets, S3_SECRET_ACCESS_KEY: 'short' }), (e: unknown) => (e as Error).message.includes('<redacted>') && !(e as Error).message.includes('short'));
  });

  it('checks the store settings across fields', () => {
    assert.deepEqual(loadConfig({ ...secrets }).store, { kind: 'postgres', databaseUrl: secrets.DATABASE_URL });
    assert.throws(() => loadConfig({ ...secrets, DATABASE_URL: '' }), /DATABASE_URL is required when STORE=postgres/);
    assert.throws(() => loadConfig({ ...secrets, STORE: 'supabase' }), /SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are required when STORE=supabase/);
    const sb = loadConfig({ ...secrets, STORE: 'supabase', SUPABASE_URL: 'https://x.supabase.co', SUPABASE_SERVICE_ROLE_KEY: 'k'.repeat(40) });
    assert.equal(sb.store.kind, 'supabase');
    assert.throws(() => loadConfig({ ...secrets, STORE: 'mysql' }), /STORE="mysql"/);
  });

  it('accepts rediss:// and ACL users', () => {
    assert.equal(loadConfig({ ...secrets, REDIS_URL: 'rediss://user:pw@example.com:6380' }).redis.url, 'rediss://user:pw@example.com:6380');
  });

  it('is documented in README.md, every variable', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const name of Object.keys(CONFIG_VARS)) assert.ok(readme.includes(`\`${name}\``), `README.md lacks ${name}`);
  });
});
