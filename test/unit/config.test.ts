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
    assert.throws(() => loadConfig({ ...secrets, API_REUSE_PORT: 'true', API_PORT: '0' }), /API_REUSE_PORT=true shares one API_PORT among processes.*set API_PORT/);
    assert.equal(loadConfig({ ...secrets, API_REUSE_PORT: 'true', API_PORT: '8080' }).api.reusePort, true);
    assert.throws(() => loadConfig({ ...secrets, S3_SECRET_ACCESS_KEY: 'short' }), (e: unknown) => (e as Error).message.includes('<redacted>') && !(e as Error).message.includes('short'));
  });

  it('parses MCP_SERVERS into typed servers and refuses a bad one in one line, never quoting a header', () => {
    const servers = { fs: { command: ['node', '/opt/mcp/node_modules/x/index.js'], mount: '/srv/mcp/node_modules', workspace: true }, web: { url: 'https://mcp.example.com/mcp', headers: { authorization: 'Bearer t0ken-value' } } };
    const cfg = loadConfig({ ...secrets, MCP_SERVERS: JSON.stringify(servers), MCP_TIMEOUT: '45' });
    assert.deepEqual(cfg.tools.mcp, { servers: { fs: { ...servers.fs }, web: servers.web }, timeoutMs: 45_000 });
    assert.deepEqual(loadConfig({ ...secrets }).tools.mcp, { servers: {}, timeoutMs: 30_000 });
    for (const [bad, why] of [
      ['{', /MCP_SERVERS is not JSON/],
      [JSON.stringify({ 'Bad Name': { url: 'https://x' } }), /server names must match/],
      [JSON.stringify({ fs: { command: 'node server.js' } }), /command must be an argv array/],
      [JSON.stringify({ fs: { command: ['node'], mount: 'relative/dir' } }), /mount must be an absolute host directory/],
      [JSON.stringify({ web: { url: 'https://user:pw@x/mcp', headers: { authorization: 'Bearer t0ken-value' } } }), /url must not carry credentials/],
      [JSON.stringify({ web: { url: 'https://x/mcp', extra: 1 } }), /unknown key "extra"/],
    ] as const) {
      assert.throws(() => loadConfig({ ...secrets, MCP_SERVERS: bad }), (e: unknown) => e instanceof ConfigError && why.test(e.message) && !e.message.includes('\n') && !e.message.includes('t0ken-value'), bad);
    }
  });

  it('takes APPROVAL_TOOLS entries naming tools and connectors (mcp, mcp:<server>, mcp:<server>.<tool>) and refuses others', () => {
    const list = 'shell,mcp,mcp:everything,mcp:fs-2.read_text_file,mcp:gh.repos.create_issue';
    assert.deepEqual(loadConfig({ ...secrets, APPROVAL_TOOLS: list }).runs.approvalTools, list.split(','));
    assert.deepEqual(loadConfig({ ...secrets }).runs.approvalTools, []);
    for (const bad of ['Shell', 'shell,', 'mcp:', 'mcp:Everything', 'mcp:everything.', 'mcp:everything.echo tool', 'mcp:9x.echo', 'mcp:everything.echo,mcp:']) {
      assert.throws(() => loadConfig({ ...secrets, APPROVAL_TOOLS: bad }), (e: unknown) => e instanceof ConfigError && /APPROVAL_TOOLS/.test(e.message) && /mcp:<server>\.<tool>/.test(e.message), bad);
    }
  });

  it('checks the store settings across fields', () => {
    assert.deepEqual(loadConfig({ ...secrets }).store, { kind: 'postgres', databaseUrl: secrets.DATABASE_URL, poolMax: 10, preparedStatements: true });
    assert.deepEqual(loadConfig({ ...secrets, DATABASE_POOL_MAX: '4', DATABASE_PREPARED_STATEMENTS: 'false' }).store,
      { kind: 'postgres', databaseUrl: secrets.DATABASE_URL, poolMax: 4, preparedStatements: false });
    assert.throws(() => loadConfig({ ...secrets, DATABASE_URL: '' }), /DATABASE_URL is required when STORE=postgres/);
    assert.throws(() => loadConfig({ ...secrets, STORE: 'supabase' }), /SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are required when STORE=supabase/);
    const sb = loadConfig({ ...secrets, STORE: 'supabase', SUPABASE_URL: 'https://x.supabase.co', SUPABASE_SERVICE_ROLE_KEY: 'k'.repeat(40) });
    assert.equal(sb.store.kind, 'supabase');
    assert.throws(() => loadConfig({ ...secrets, STORE: 'mysql' }), /STORE="mysql"/);
  });

  it('copies step time limits and max_tokens into each run\'s limits, and refuses a default above the maximum', () => {
    const c = loadConfig({ ...secrets, SHELL_TIMEOUT_MS: '30000', SHELL_TIMEOUT_MAX_MS: '120000', ANTHROPIC_MAX_TOKENS: '2048' });
    assert.deepEqual([c.runs.shellTimeoutMs, c.runs.shellTimeoutMaxMs, c.runs.llmMaxTokens], [30_000, 120_000, 2048]);
    assert.equal(c.tools.shellTimeoutMaxMs, 120_000);
    assert.equal(loadConfig({ ...secrets }).runs.shellTimeoutMaxMs, 600_000);
    assert.throws(() => loadConfig({ ...secrets, SHELL_TIMEOUT_MS: '900000' }), /SHELL_TIMEOUT_MS \(900000\) is above SHELL_TIMEOUT_MAX_MS \(600000\)/);
  });

  it('accepts rediss:// and ACL users', () => {
    assert.equal(loadConfig({ ...secrets, REDIS_URL: 'rediss://user:pw@example.com:6380' }).redis.url, 'rediss://user:pw@example.com:6380');
  });

  it('takes any S3-compatible endpoint as plain config: the seeds\' Exoscale SOS settings parse', () => {
    // The seed deployment's environment, names and all (S3_WORKSPACE_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY).
    const exoscale = {
      DATABASE_URL: secrets.DATABASE_URL,
      S3_ENDPOINT: 'https://sos-ch-gva-2.exo.io', S3_REGION: 'ch-gva-2', S3_WORKSPACE_BUCKET: 'swissbrain-workspaces',
      S3_ACCESS_KEY: 'EXO0123456789abcdef', S3_SECRET_KEY: 'exoscale-secret-key-value',
    };
    const c = loadConfig(exoscale);
    assert.deepEqual(c.s3, {
      endpoint: 'https://sos-ch-gva-2.exo.io', region: 'ch-gva-2', bucket: 'swissbrain-workspaces', forcePathStyle: true,
      accessKeyId: 'EXO0123456789abcdef', secretAccessKey: 'exoscale-secret-key-value',
    });
    // The same with this project's names, and virtual-hosted addressing.
    const canonical = loadConfig({
      DATABASE_URL: secrets.DATABASE_URL, S3_ENDPOINT: 'https://sos-ch-gva-2.exo.io', S3_REGION: 'ch-gva-2', S3_BUCKET: 'swissbrain-workspaces',
      S3_FORCE_PATH_STYLE: 'false', S3_ACCESS_KEY_ID: 'EXO0123456789abcdef', S3_SECRET_ACCESS_KEY: 'exoscale-secret-key-value',
    });
    assert.equal(canonical.s3.bucket, 'swissbrain-workspaces');
    assert.equal(canonical.s3.forcePathStyle, false);
    // An alias agreeing with its canonical name is fine; disagreeing is an error naming both.
    assert.equal(loadConfig({ ...exoscale, S3_BUCKET: 'swissbrain-workspaces' }).s3.bucket, 'swissbrain-workspaces');
    assert.throws(() => loadConfig({ ...exoscale, S3_BUCKET: 'other-bucket' }), /S3_WORKSPACE_BUCKET and S3_BUCKET are both set/);
    // Unset endpoint means AWS.
    assert.equal(loadConfig({ ...secrets, S3_ENDPOINT: '' }).s3.endpoint, undefined);
    assert.throws(() => loadConfig({ ...secrets, S3_ENDPOINT: 'sos-ch-gva-2.exo.io' }), /S3_ENDPOINT/);
  });

  it('parses the workspace limits and retention', () => {
    assert.deepEqual(loadConfig({ ...secrets }).workspace, { fileMaxBytes: 104_857_600, retentionDays: 0 });
    assert.deepEqual(loadConfig({ ...secrets, WORKSPACE_FILE_MAX_BYTES: '1024', WORKSPACE_RETENTION_DAYS: '30' }).workspace, { fileMaxBytes: 1024, retentionDays: 30 });
    assert.throws(() => loadConfig({ ...secrets, WORKSPACE_RETENTION_DAYS: '-1' }), /WORKSPACE_RETENTION_DAYS/);
    assert.throws(() => loadConfig({ ...secrets, WORKSPACE_FILE_MAX_BYTES: '0' }), /WORKSPACE_FILE_MAX_BYTES/);
  });

  it('resolves the auth mode and refuses inconsistent auth settings with one line', () => {
    const secret = 's'.repeat(40);
    const hash = 'a'.repeat(64);
    assert.deepEqual(loadConfig({ ...secrets }).api.auth, { mode: 'none', userId: 'local' });
    const jwt = loadConfig({ ...secrets, AUTH_JWT_SECRET: secret, AUTH_ISSUER: 'https://x.supabase.co/auth/v1', AUTH_API_KEYS: `svc-1:${hash}`, AUTH_OPERATORS: 'svc-1,ops_2' }).api.auth;
    assert.deepEqual(jwt, {
      mode: 'jwt', jwt: { kind: 'secret', secret }, issuer: 'https://x.supabase.co/auth/v1', audience: ['authenticated'], clockSkewS: 5,
      apiKeys: [{ userId: 'svc-1', sha256: hash }], operators: ['svc-1', 'ops_2'],
    });
    assert.throws(() => loadConfig({ ...secrets, AUTH_JWT_SECRET: secret, AUTH_OPERATORS: 'a b' }), /AUTH_OPERATORS/);
    const jwks = loadConfig({ ...secrets, AUTH_JWKS_URL: 'https://x.supabase.co/auth/v1/.well-known/jwks.json', AUTH_AUDIENCE: 'a,b' }).api.auth;
    assert.equal(jwks.mode === 'jwt' && jwks.jwt?.kind, 'jwks');
    assert.deepEqual(jwks.mode === 'jwt' && jwks.audience, ['a', 'b']);
    assert.equal(loadConfig({ ...secrets, AUTH_API_KEYS: `svc:${hash}` }).api.auth.mode, 'jwt');
    const refusals: [Record<string, string>, RegExp][] = [
      [{ API_HOST: '0.0.0.0' }, /no authentication is configured and API_HOST=0\.0\.0\.0 is not a loopback address/],
      [{ AUTH_MODE: 'jwt' }, /AUTH_MODE=jwt needs AUTH_JWT_SECRET or AUTH_JWKS_URL/],
      [{ AUTH_MODE: 'none', AUTH_JWT_SECRET: secret }, /AUTH_MODE=none but AUTH_JWT_SECRET is set/],
      [{ AUTH_JWT_SECRET: secret, AUTH_JWKS_URL: 'https://x.example/jwks.json' }, /AUTH_JWT_SECRET and AUTH_JWKS_URL are both set/],
      [{ AUTH_JWT_SECRET: 'short' }, /AUTH_JWT_SECRET=<redacted> must be at least 32 characters/],
      [{ AUTH_API_KEYS: 'svc:not-a-hash' }, /AUTH_API_KEYS=<redacted> must be userId:sha256hex/],
      [{ DEFAULT_USER_ID: '../etc' }, /DEFAULT_USER_ID/],
      [{ API_CORS_ORIGINS: 'app.example.com' }, /API_CORS_ORIGINS/],
    ];
    for (const [env, message] of refusals) {
      assert.throws(() => loadConfig({ ...secrets, ...env }), (e: unknown) => e instanceof ConfigError && message.test(e.message) && !e.message.includes('\n') && !e.message.includes('short'), JSON.stringify(env));
    }
    // An explicit AUTH_MODE=none on a public address is refused too (issue 10): no unauthenticated API off loopback.
    assert.throws(() => loadConfig({ ...secrets, AUTH_MODE: 'none', API_HOST: '0.0.0.0' }), /AUTH_MODE=none serves every request as DEFAULT_USER_ID, which is only allowed on a loopback address, and API_HOST=0\.0\.0\.0 is not one/);
    assert.equal(loadConfig({ ...secrets, AUTH_MODE: 'none', API_HOST: '127.0.0.1' }).api.auth.mode, 'none');
    assert.deepEqual(loadConfig({ ...secrets, API_CORS_ORIGINS: 'https://a.example,http://localhost:3000' }).api.corsOrigins, ['https://a.example', 'http://localhost:3000']);
  });

  it('parses the limits of issue 10 §4: repair, stream caps, the metrics listener, worker concurrency', () => {
    const d = loadConfig(secrets);
    assert.deepEqual(d.api.repair, { intervalS: 60, graceS: 300 });
    assert.deepEqual(d.api.sseLimits, { perUser: 20, total: 2000 });
    assert.deepEqual(d.api.metrics, { host: '127.0.0.1', port: 0 });
    assert.equal(d.worker.maxConcurrentActivities, 20);
    const c = loadConfig({ ...secrets, API_REPAIR_INTERVAL_S: '0', SSE_MAX_STREAMS_PER_USER: '3', SSE_MAX_STREAMS: '9', API_METRICS_PORT: '9464', WORKER_MAX_CONCURRENT_ACTIVITIES: '4' });
    assert.deepEqual([c.api.repair.intervalS, c.api.sseLimits.perUser, c.api.sseLimits.total, c.api.metrics.port, c.worker.maxConcurrentActivities], [0, 3, 9, 9464, 4]);
    for (const bad of [{ SSE_MAX_STREAMS_PER_USER: '0' }, { WORKER_MAX_CONCURRENT_ACTIVITIES: '0' }, { API_REPAIR_GRACE_S: '0' }]) {
      assert.throws(() => loadConfig({ ...secrets, ...bad }), new RegExp(Object.keys(bad)[0]!), JSON.stringify(bad));
    }
  });

  it('parses the worker\'s tuning (issue 13): local activity and workflow task slots, the sticky cache', () => {
    const d = loadConfig(secrets).worker;
    assert.deepEqual([d.maxConcurrentLocalActivities, d.maxConcurrentWorkflowTasks, d.maxCachedWorkflows, d.heartbeatThrottleMs, d.workflowThreads], [100, 40, undefined, 1000, 1]);
    const c = loadConfig({ ...secrets, WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: '8', WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '6', WORKER_MAX_CACHED_WORKFLOWS: '50' }).worker;
    assert.deepEqual([c.maxConcurrentLocalActivities, c.maxConcurrentWorkflowTasks, c.maxCachedWorkflows], [8, 6, 50]);
    for (const bad of [{ WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '1' }, { WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: '0' }, { WORKER_HEARTBEAT_THROTTLE_MS: '5' }, { WORKER_WORKFLOW_THREADS: '0' }, { DATABASE_POOL_MAX: '0' }, { DATABASE_PREPARED_STATEMENTS: 'maybe' }]) {
      assert.throws(() => loadConfig({ ...secrets, ...bad }), new RegExp(Object.keys(bad)[0]!), JSON.stringify(bad));
    }
  });

  it('is documented in README.md, every variable', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const name of Object.keys(CONFIG_VARS)) assert.ok(readme.includes(`\`${name}\``), `README.md lacks ${name}`);
  });
});
