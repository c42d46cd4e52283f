/**
 * Authentication, ownership and limits of the HTTP API, against the real stack:
 * a worker and two API processes verifying HS256 JWTs (the stack's Supabase JWT
 * secret) and API keys, a JWKS-verifying API, Redis-backed rate limits.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, SignJWT } from 'jose';
import { readSse } from '../../src/client/sse.ts';
import { sha256Hex } from '../../src/shared/hash.ts';
import { mintToken, unsignedToken } from '../helpers/auth.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

const ISSUER = 'https://auth.agentrun.test/auth/v1';
const ORIGIN = 'https://app.agentrun.test';

describe('API authentication, ownership and limits', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;
  let api2: (Proc & { url: string }) | undefined;
  let alice: string;
  let bob: string;
  let serviceUser: string;
  const apiKey = `ak_${randomBytes(24).toString('hex')}`;
  let aliceToken: string;
  let bobToken: string;

  before(async () => {
    c = await connectClients();
    alice = await newUser(c, 1000, 'alice');
    bob = await newUser(c, 1000, 'bob');
    serviceUser = await newUser(c, 1000, 'svc');
    const env = {
      ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('auth'), SSE_HEARTBEAT_MS: '300',
      AUTH_ISSUER: ISSUER, AUTH_CLOCK_SKEW_S: '0', AUTH_API_KEYS: `${serviceUser}:${sha256Hex(apiKey)}`,
      API_CORS_ORIGINS: `${ORIGIN},https://other.agentrun.test`, API_RATE_LIMIT: '100', API_RATE_WINDOW_S: '60',
      API_MAX_ACTIVE_RUNS: '3', API_PROMPT_MAX_CHARS: '1000', API_BODY_MAX_BYTES: '65536',
    };
    [worker, api, api2] = await Promise.all([startWorker(env), startApi(env), startApi(env)]);
    aliceToken = await mintToken(alice, { issuer: ISSUER });
    bobToken = await mintToken(bob, { issuer: ISSUER });
  });
  after(async () => {
    await Promise.all([stop(api), stop(api2), stop(worker)]);
    await c?.close();
  });

  const as = (token: string | undefined, init: RequestInit = {}): RequestInit => {
    const headers = new Headers(init.headers);
    if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
    return { ...init, headers };
  };
  const post = (token: string, path: string, body?: unknown) => fetch(`${api!.url}${path}`, as(token, {
    method: 'POST', ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  }));
  const startRun = async (token: string, body: Record<string, unknown>) => {
    const res = await post(token, '/v1/runs', body);
    const json = (await res.json()) as { id: string };
    assert.equal(res.status, 202, JSON.stringify(json));
    return json.id;
  };
  const statusOf = async (token: string, id: string) => ((await (await fetch(`${api!.url}/v1/runs/${id}`, as(token))).json()) as { status: string }).status;

  it('answers 401 JSON for a missing, malformed, expired, unsigned, forged, foreign-audience or foreign-issuer token', async () => {
    const matrix: [string, Record<string, string>, RegExp][] = [
      ['missing', {}, /authentication required/],
      ['not a JWT', { authorization: 'Bearer not-a-jwt' }, /malformed token/],
      ['not Bearer', { authorization: 'Basic YWxpY2U6c2VjcmV0' }, /malformed Authorization header/],
      ['expired', { authorization: `Bearer ${await mintToken(alice, { issuer: ISSUER, expiresInS: -60 })}` }, /token expired/],
      ['alg none', { authorization: `Bearer ${unsignedToken(alice)}` }, /algorithm is not accepted|malformed token/],
      ['wrong signature', { authorization: `Bearer ${await mintToken(alice, { issuer: ISSUER, secret: randomBytes(32).toString('hex') })}` }, /signature is invalid/],
      ['wrong audience', { authorization: `Bearer ${await mintToken(alice, { issuer: ISSUER, audience: 'anon' })}` }, /audience \(aud\) is not accepted/],
      ['no audience', { authorization: `Bearer ${await mintToken(alice, { issuer: ISSUER, audience: null })}` }, /no audience \(aud\)/],
      ['wrong issuer', { authorization: `Bearer ${await mintToken(alice, { issuer: 'https://evil.example/auth/v1' })}` }, /issuer \(iss\) is not accepted/],
      ['no sub', { authorization: `Bearer ${await mintToken(undefined, { issuer: ISSUER })}` }, /no subject \(sub\)/],
      ['sub not a user id', { authorization: `Bearer ${await mintToken('../../other-user', { issuer: ISSUER })}` }, /not a valid user id/],
      ['HS512 instead of HS256', { authorization: `Bearer ${await mintToken(alice, { issuer: ISSUER, alg: 'HS512' })}` }, /algorithm is not accepted/],
      ['unknown API key', { 'x-api-key': `ak_${randomBytes(24).toString('hex')}` }, /unknown API key/],
    ];
    for (const [name, headers, message] of matrix) {
      for (const path of ['/v1/runs', '/v1/runs/run_00000000000000000000000000/events', '/agent/execute']) {
        const res = await fetch(`${api!.url}${path}`, { method: path === '/agent/execute' ? 'POST' : 'GET', headers });
        assert.equal(res.status, 401, `${name} on ${path}`);
        assert.match(res.headers.get('content-type') ?? '', /application\/json/);
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="agentrun"/, name);
        const body = (await res.json()) as { error: { code: string; message: string } };
        assert.match(body.error.code, /^(missing_credentials|invalid_token|invalid_api_key)$/, name);
        assert.match(body.error.message, message, `${name}: ${body.error.message}`);
      }
    }
  });

  it('accepts a valid token, and API keys as Bearer ak_… or X-API-Key (stored only as SHA-256)', async () => {
    assert.equal((await fetch(`${api!.url}/v1/runs`, as(aliceToken))).status, 200);
    for (const headers of [{ authorization: `Bearer ${apiKey}` }, { 'x-api-key': apiKey }] as Record<string, string>[]) {
      const res = await fetch(`${api!.url}/v1/runs`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'write_file svc.txt from a service' }) });
      assert.equal(res.status, 202);
      const { id } = (await res.json()) as { id: string };
      assert.equal((await c.store.getRun(id))!.user_id, serviceUser);
    }
  });

  it('answers 404 to another user on every route naming a run, and lists only the caller\'s runs', async () => {
    const held = await startRun(aliceToken, { prompt: 'write_file secret.txt alice only', requireApproval: true });
    await waitUntil('alice run awaiting approval', async () => (await c.store.getRun(held))?.status === 'awaiting_approval');
    const routes: [string, string, unknown?][] = [
      ['GET', `/v1/runs/${held}`], ['GET', `/v1/runs/${held}/events`], ['GET', `/v1/runs/${held}/files`],
      ['GET', `/v1/runs/${held}/files/secret.txt`], ['POST', `/v1/runs/${held}/cancel`], ['POST', `/v1/runs/${held}/approve`, { approved: true }],
      ['POST', `/v1/runs/${held}/pause`], ['POST', `/v1/runs/${held}/resume`], ['POST', `/v1/runs/${held}/messages`, { text: 'hi' }],
      ['GET', `/agent/logs/${held}/stream`],
      ...(['status', 'stop', 'start', 'retry'] as const).map((action): [string, string, unknown] => ['POST', '/agent/execute', { action, run_id: held }]),
    ];
    for (const [method, path, body] of routes) {
      const res = await fetch(`${api!.url}${path}`, as(bobToken, {
        method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      }));
      assert.equal(res.status, 404, `${method} ${path} ${JSON.stringify(body ?? '')}`);
      const err = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(err.error.code, 'not_found');
      assert.match(err.error.message, new RegExp(`run ${held} not found`));
    }
    // A run id that does not exist at all answers the same.
    const unknown = await fetch(`${api!.url}/v1/runs/run_00000000000000000000000000`, as(bobToken));
    assert.equal(unknown.status, 404);
    // The same routes work for the owner; the run is still held, untouched by bob.
    assert.equal(await statusOf(aliceToken, held), 'awaiting_approval');
    const bobs = (await (await fetch(`${api!.url}/v1/runs`, as(bobToken))).json()) as { runs: { id: string }[] };
    assert.ok(!bobs.runs.some((r) => r.id === held));
    const alices = (await (await fetch(`${api!.url}/v1/runs`, as(aliceToken))).json()) as { runs: { id: string }[] };
    assert.ok(alices.runs.some((r) => r.id === held));
    // A workspace of someone else's run cannot be reused either.
    const reuse = await post(bobToken, '/v1/runs', { prompt: 'read_file secret.txt', workspaceId: held });
    assert.equal(reuse.status, 404);
    assert.equal(((await reuse.json()) as { error: { code: string } }).error.code, 'workspace_not_found');
    assert.equal((await post(aliceToken, `/v1/runs/${held}/cancel`)).status, 202);
  });

  it('ends an SSE stream when its token expires, and refuses the reconnect with the expired token', async () => {
    const held = await startRun(aliceToken, { prompt: 'write_file later.txt x', requireApproval: true });
    const shortLived = await mintToken(alice, { issuer: ISSUER, expiresInS: 3 });
    const started = Date.now();
    const seen: string[] = [];
    let comment = '';
    for await (const m of readSse(`${api!.url}/v1/runs/${held}/events`, { headers: { authorization: `Bearer ${shortLived}` }, onComment: (t) => { comment = t; } })) {
      seen.push(m.event);
      assert.ok(Date.now() - started < 15_000, 'the stream outlived its token');
    }
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1500 && elapsed < 8000, `stream ended after ${elapsed} ms`);
    assert.ok(!seen.includes('end'), 'the run is still going; the stream ended for the token');
    assert.match(comment, /token expired/);
    const again = await fetch(`${api!.url}/v1/runs/${held}/events`, { headers: { authorization: `Bearer ${shortLived}` } });
    assert.equal(again.status, 401);
    // The seed alias behaves the same; a fresh token resumes.
    assert.equal((await fetch(`${api!.url}/agent/logs/${held}/stream`, { headers: { authorization: `Bearer ${shortLived}` } })).status, 401);
    assert.equal((await post(aliceToken, `/v1/runs/${held}/cancel`)).status, 202);
  });

  it('keeps an SSE stream open for a token that lives for years (a timer past 2^31 ms would fire at once)', async () => {
    const held = await startRun(aliceToken, { prompt: 'write_file later.txt x', requireApproval: true });
    const longLived = await mintToken(alice, { issuer: ISSUER, expiresInS: 10 * 365 * 86_400 });
    const seen: string[] = [];
    let comment = '';
    let cancelled = false;
    for await (const m of readSse(`${api!.url}/v1/runs/${held}/events`, { headers: { authorization: `Bearer ${longLived}` }, onComment: (t) => { comment = t; } })) {
      seen.push(m.event);
      if (!cancelled && m.event === 'status') {
        cancelled = true; // the stream is open and following: end the run, and the stream ends with it
        assert.equal((await post(aliceToken, `/v1/runs/${held}/cancel`)).status, 202);
      }
    }
    assert.equal(seen.at(-1), 'end', `the stream ended with the run, not before: ${seen.join(' ')}`);
    assert.doesNotMatch(comment, /token expired/);
  });

  it('accepts ?access_token= on event streams only (EventSource cannot send headers)', async () => {
    const id = await startRun(aliceToken, { prompt: 'write_file q.txt x' });
    const events = [];
    for await (const m of readSse(`${api!.url}/v1/runs/${id}/events?access_token=${aliceToken}`)) events.push(m.event);
    assert.equal(events.at(-1), 'end');
    assert.equal((await fetch(`${api!.url}/v1/runs/${id}?access_token=${aliceToken}`)).status, 401);
  });

  it('limits requests per user across API processes (Redis): 429 JSON with Retry-After', async () => {
    const carol = await newUser(c, 0, 'carol');
    const token = await mintToken(carol, { issuer: ISSUER });
    const answers = await Promise.all(Array.from({ length: 130 }, (_, i) => fetch(`${(i % 2 ? api2 : api)!.url}/v1/runs?limit=1`, as(token))));
    const statuses = answers.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 100, 'exactly the limit, counted across both processes');
    assert.equal(statuses.filter((s) => s === 429).length, 30);
    const limited = answers.find((r) => r.status === 429)!;
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    const body = (await limited.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'rate_limited');
    assert.match(body.error.message, /at most 100 per 60 s/);
    await Promise.all(answers.filter((r) => r !== limited).map(async (r) => { await r.body?.cancel(); }));
    // Another user is not affected.
    assert.equal((await fetch(`${api2!.url}/v1/runs?limit=1`, as(bobToken))).status, 200);
  });

  it('limits runs going at once per user: 429 too_many_active_runs, a place frees when one ends', async () => {
    const dave = await newUser(c, 1000, 'dave');
    const token = await mintToken(dave, { issuer: ISSUER });
    const held = await Promise.all([1, 2, 3].map(() => startRun(token, { prompt: 'write_file h.txt x', requireApproval: true })));
    const fourth = await post(token, '/v1/runs', { prompt: 'write_file h.txt x' });
    assert.equal(fourth.status, 429);
    assert.ok(Number(fourth.headers.get('retry-after')) >= 1);
    const err = (await fourth.json()) as { error: { code: string; message: string; details: { active: number; limit: number } } };
    assert.equal(err.error.code, 'too_many_active_runs');
    assert.deepEqual(err.error.details, { active: 3, limit: 3 });
    assert.equal((await post(token, `/v1/runs/${held[0]}/cancel`)).status, 202);
    await waitUntil('the cancelled run frees its place', async () => (await c.store.getRun(held[0]!))?.status === 'cancelled');
    await startRun(token, { prompt: 'write_file h.txt x', requireApproval: true });
    await Promise.all(held.slice(1).map((id) => post(token, `/v1/runs/${id}/cancel`)));
  });

  it('caps body size (413 JSON) and prompt length (400 naming prompt)', async () => {
    const big = await post(aliceToken, '/v1/runs', { prompt: 'x'.repeat(70_000) });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'body_too_large');
    const long = await post(aliceToken, '/v1/runs', { prompt: 'x'.repeat(1001) });
    assert.equal(long.status, 400);
    assert.match(((await long.json()) as { error: { message: string } }).error.message, /^prompt: must be at most 1000 characters/);
    const seedLong = await post(aliceToken, '/agent/execute', { action: 'create', prompt: 'x'.repeat(1001) });
    assert.equal(seedLong.status, 400);
  });

  it('answers CORS for allowed origins only, and sends security headers on every answer', async () => {
    const preflight = await fetch(`${api!.url}/v1/runs`, {
      method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, idempotency-key' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), ORIGIN);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Idempotency-Key/);
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
    const foreign = await fetch(`${api!.url}/v1/runs`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(foreign.status, 403);
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
    assert.equal(((await foreign.json()) as { error: { code: string } }).error.code, 'cors_origin_not_allowed');
    const simple = await fetch(`${api!.url}/v1/runs`, as(aliceToken, { headers: { origin: ORIGIN } }));
    assert.equal(simple.headers.get('access-control-allow-origin'), ORIGIN);
    assert.match(simple.headers.get('vary') ?? '', /Origin/);
    const other = await fetch(`${api!.url}/v1/runs`, as(aliceToken, { headers: { origin: 'https://evil.example' } }));
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    for (const res of [simple, other, await fetch(`${api!.url}/healthz`), await fetch(`${api!.url}/v1/runs`)]) {
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('x-frame-options'), 'DENY');
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
      assert.equal(res.headers.get('x-powered-by'), null);
    }
  });
});

describe('API authentication with a JWKS (asymmetric keys)', () => {
  let api: (Proc & { url: string }) | undefined;
  let jwks: ReturnType<typeof createServer> | undefined;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  before(async () => {
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    jwks = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
    api = await startApi({ ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('jwks'), AUTH_JWT_SECRET: '', AUTH_JWKS_URL: url, AUTH_ISSUER: ISSUER });
  });
  after(async () => {
    await stop(api);
    jwks?.close();
  });

  const es256 = (sub: string, kid = 'k1') => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid }).setSubject(sub).setAudience('authenticated')
    .setIssuer(ISSUER).setIssuedAt().setExpirationTime('10m').sign(privateKey);

  it('accepts tokens signed by a key of the JWKS, and refuses HS256 tokens (even signed with the stack secret), alg none and unknown keys', async () => {
    const ok = await fetch(`${api!.url}/v1/runs`, { headers: { authorization: `Bearer ${await es256('jwks-user')}` } });
    assert.equal(ok.status, 200);
    const refusals: [string, string, RegExp][] = [
      ['HS256 with the stack secret', await mintToken('jwks-user', { issuer: ISSUER }), /algorithm is not accepted/],
      ['alg none', unsignedToken('jwks-user'), /algorithm is not accepted|malformed token/],
      ['unknown kid', await es256('jwks-user', 'k2'), /not signed by a key of the issuer/],
    ];
    for (const [name, token, message] of refusals) {
      const res = await fetch(`${api!.url}/v1/runs`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401, name);
      assert.match(((await res.json()) as { error: { message: string } }).error.message, message, name);
    }
  });
});
