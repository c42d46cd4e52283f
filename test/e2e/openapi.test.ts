/**
 * GET /openapi.json describes the API as it answers. Real requests against a running
 * API (worker, Temporal, Postgres, Redis, MinIO); every answer is checked against the
 * schema the document gives for its path, method, status and content type. An answer
 * whose status or content type the document does not list fails the test, and so does
 * a documented operation the test never saw answer.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { queueKeys } from '../../src/shared/names.ts';
import { apiFetch, mintToken } from '../helpers/auth.ts';
import { collect, createRun } from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

interface MediaType { schema?: unknown }
interface ResponseObject { $ref?: string; content?: Record<string, MediaType> }
interface Operation { operationId: string; parameters?: { $ref?: string; name?: string; in?: string }[]; responses: Record<string, ResponseObject> }
interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, unknown> & { parameters?: Operation['parameters'] }>;
  components: { schemas: Record<string, unknown>; parameters?: Record<string, { name: string; in: string }> };
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
type Method = (typeof HTTP_METHODS)[number];
/** The id the document is added to Ajv under; its `#/components/…` references resolve against it. */
const DOC_ID = 'agentrun-openapi.json';
const escapeToken = (t: string) => t.replace(/~/g, '~0').replace(/\//g, '~1');
const unescapeToken = (t: string) => t.replace(/~1/g, '/').replace(/~0/g, '~');

/** The value at a local reference (`#/a/b`) and its location as pointer tokens. */
function deref(doc: unknown, ref: string): { value: unknown; at: string[] } {
  assert.ok(ref.startsWith('#/'), `only local references are used: ${ref}`);
  const at = ref.slice(2).split('/').map(unescapeToken);
  const value = at.reduce<unknown>((node, key) => (node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), doc);
  return { value, at };
}

/** Every `$ref` in the document. */
function refsOf(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) refsOf(n, out);
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsOf(v, out);
    }
  }
  return out;
}

const operations = (doc: OpenApiDoc) => Object.entries(doc.paths).flatMap(([template, item]) =>
  HTTP_METHODS.filter((m) => item[m] !== undefined).map((method) => ({ template, method, op: item[method] as Operation })));

interface Answer { status: number; headers: Headers; body: unknown }

/**
 * Checks answers of the API against the document: finds the operation for `METHOD template`,
 * the response for the answer's status (following `$ref`s to shared responses), the media type
 * for its content type, and validates a JSON body against that media type's schema.
 */
class Contract {
  readonly doc: OpenApiDoc;
  readonly seen = new Set<string>();
  private readonly ajv: Ajv2020;

  constructor(doc: OpenApiDoc) {
    this.doc = doc;
    this.ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: true, strictTuples: true });
    addFormats.default(this.ajv);
    // The document's own fields are not schema keywords: known, never validated, so its schemas can be checked strictly.
    this.ajv.addVocabulary(['openapi', 'info', 'jsonSchemaDialect', 'servers', 'paths', 'webhooks', 'components', 'security', 'tags', 'externalDocs']);
    this.ajv.addSchema(doc, DOC_ID);
  }

  /** A validator for the schema at a location of the document (compiled strictly: an invalid schema throws). */
  validatorAt(at: string[]) {
    const fn = this.ajv.getSchema(`${DOC_ID}#/${at.map((t) => encodeURIComponent(escapeToken(t))).join('/')}`);
    assert.ok(fn, `no schema at /${at.join('/')}`);
    return fn;
  }

  async check(method: Method, template: string, res: Response): Promise<Answer> {
    const what = `${method.toUpperCase()} ${template}`;
    const op = this.doc.paths[template]?.[method] as Operation | undefined;
    assert.ok(op, `${what} is not in the document`);
    this.seen.add(op.operationId);
    const text = await res.text();
    const status = String(res.status);
    let response = op.responses[status];
    let at = ['paths', template, method, 'responses', status];
    assert.ok(response, `${what} answered ${status}, which the document does not list (it lists ${Object.keys(op.responses).join(', ')}): ${text.slice(0, 500)}`);
    while (response.$ref) {
      const target = deref(this.doc, response.$ref);
      response = target.value as ResponseObject;
      at = target.at;
      assert.ok(response, `${what} ${status}: ${at.join('/')} does not resolve`);
    }
    const contentType = res.headers.get('content-type');
    const content = response.content ?? {};
    if (contentType === null) {
      assert.equal(text, '', `${what} ${status} has a body but no content type`);
      assert.equal(Object.keys(content).length, 0, `${what} ${status}: the document promises content, the answer has none`);
      return { status: res.status, headers: res.headers, body: undefined };
    }
    const base = contentType.split(';')[0]!.trim().toLowerCase();
    const mediaType = [base, `${base.split('/')[0]}/*`, '*/*'].find((m) => content[m] !== undefined);
    assert.ok(mediaType, `${what} ${status} answered ${contentType}; the document lists ${Object.keys(content).join(', ') || 'no content'}`);
    const isJson = base === 'application/json' || base.endsWith('+json');
    if (!isJson || content[mediaType]!.schema === undefined) return { status: res.status, headers: res.headers, body: text };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      assert.fail(`${what} ${status} sent ${contentType} that is not JSON: ${text.slice(0, 200)}`);
    }
    const validate = this.validatorAt([...at, 'content', mediaType, 'schema']);
    assert.ok(validate(body), `${what} ${status} does not match the document: ${this.ajv.errorsText(validate.errors, { separator: '; ' })}\n${JSON.stringify(body).slice(0, 2000)}`);
    return { status: res.status, headers: res.headers, body };
  }
}

interface CallOptions {
  params?: Record<string, string>;
  query?: string;
  body?: unknown;
  /** A raw body with its content type (instead of JSON). */
  raw?: { type: string; data: string };
  headers?: Record<string, string>;
  /** A bearer token other than the API's own; null for none. */
  token?: string | null;
}

describe('GET /openapi.json describes every answer of the API', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let api: (Proc & { url: string; token: string }) | undefined;
  let user: string;
  let contract: Contract;
  /** A run that has completed, shared by the tests that need one. */
  let finished: string;
  const prefix = `jobs-openapi-${randomBytes(4).toString('hex')}:`;

  before(async () => {
    c = await connectClients();
    user = await newUser(c, 100_000, 'openapi');
    const env = {
      ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('openapi'), DEFAULT_USER_ID: user, QUEUE_KEY_PREFIX: prefix,
      AUTH_OPERATORS: user, API_MAX_ACTIVE_RUNS: '100', API_RATE_LIMIT: '5000',
    };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    if (c) {
      await c.redis.del(...Object.values(queueKeys(prefix)));
      await c.close();
    }
  });

  /** `METHOD /template` with its parameters filled in, answered and checked against the document; asserts the status. */
  const call = async (route: string, opts: CallOptions, expected: number): Promise<Answer> => {
    const [m, template] = route.split(' ') as [string, string];
    const method = m.toLowerCase() as Method;
    const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
      const v = opts.params?.[name];
      assert.ok(v !== undefined, `${route}: no value for {${name}}`);
      return v;
    });
    const headers: Record<string, string> = { ...opts.headers };
    if (typeof opts.token === 'string') headers.authorization = `Bearer ${opts.token}`;
    let body: string | undefined;
    if (opts.raw) {
      headers['content-type'] = opts.raw.type;
      body = opts.raw.data;
    } else if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const init: RequestInit = { method: method.toUpperCase(), headers, body, signal: AbortSignal.timeout(90_000) };
    const url = `${api!.url}${path}${opts.query ? `?${opts.query}` : ''}`;
    // apiFetch sends the API's token unless the request sets its own.
    const res = await (opts.token === null ? fetch : apiFetch)(url, init);
    const answer = await contract.check(method, template, res);
    assert.equal(answer.status, expected, `${route} ${path}: ${JSON.stringify(answer.body)?.slice(0, 500)}`);
    return answer;
  };
  const errorCode = (a: Answer) => (a.body as { error: { code: string } }).error.code;
  const runStatus = async (id: string) => ((await (await apiFetch(`${api!.url}/v1/runs/${id}`)).json()) as { status: string }).status;
  const waitStatus = (id: string, status: string, timeoutMs = 60_000) =>
    waitUntil(`run ${id} ${status}`, async () => (await runStatus(id)) === status, timeoutMs);

  it('is served to anyone as OpenAPI 3.1; its references resolve and its schemas compile strictly', async () => {
    const res = await fetch(`${api!.url}/openapi.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const doc = (await res.json()) as OpenApiDoc;
    assert.match(doc.openapi, /^3\.1\.\d+$/);
    contract = new Contract(doc);
    for (const ref of new Set(refsOf(doc))) assert.notEqual(deref(doc, ref).value, undefined, `${ref} does not resolve`);
    for (const name of Object.keys(doc.components.schemas)) contract.validatorAt(['components', 'schemas', name]);
    const ids = operations(doc).map((o) => o.op.operationId);
    assert.equal(new Set(ids).size, ids.length, `operationIds repeat: ${ids.join(', ')}`);
    for (const { template, method, op } of operations(doc)) {
      const declared = [...(doc.paths[template]!.parameters ?? []), ...(op.parameters ?? [])]
        .map((p) => (p.$ref ? deref(doc, p.$ref).value as { name: string; in: string } : p))
        .filter((p) => p.in === 'path').map((p) => p.name);
      const used = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      assert.deepEqual(declared.sort(), used.sort(), `path parameters of ${method.toUpperCase()} ${template}`);
      for (const s of Object.keys(op.responses)) assert.match(s, /^[1-5]\d\d$/, `${method.toUpperCase()} ${template} response ${s}`);
    }
    // The document checks itself, as it does every answer.
    await call('GET /openapi.json', { token: null }, 200);
  });

  it('ops endpoints answer without credentials: /healthz, /readyz; /metrics is on a listener of its own', async () => {
    await call('GET /healthz', { token: null }, 200);
    const ready = await call('GET /readyz', { token: null }, 200);
    assert.equal((ready.body as { status: string }).status, 'ready');
    assert.equal(contract.doc.paths['/metrics'], undefined);
    const metricsUrl = /"metrics":"(http:\/\/[^"]+\/metrics)"/.exec(api!.output())?.[1];
    const metrics = await fetch(metricsUrl!);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /agentrun_http_request_duration_seconds/);
  });

  it('a run from start to end: 202 (Idempotency-Key, replay, 422), read, list, events, files; controls on the ended run are 409', async () => {
    const key = `openapi-${randomBytes(6).toString('hex')}`;
    const body = { prompt: 'write_file notes/hello.txt hi there\nshell echo hi', priority: 2 };
    const created = await call('POST /v1/runs', { body, headers: { 'idempotency-key': key } }, 202);
    const id = (created.body as { id: string }).id;
    finished = id;
    assert.equal(created.headers.get('location'), `/v1/runs/${id}`);
    const replay = await call('POST /v1/runs', { body, headers: { 'idempotency-key': key } }, 202);
    assert.equal((replay.body as { id: string }).id, id);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    const reused = await call('POST /v1/runs', { body: { prompt: 'write_file other.txt x' }, headers: { 'idempotency-key': key } }, 422);
    assert.equal(errorCode(reused), 'idempotency_key_reused');

    await call('GET /v1/runs/{id}', { params: { id } }, 200);
    const events = await call('GET /v1/runs/{id}/events', { params: { id } }, 200);
    assert.match(events.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.match(events.body as string, /event: end/);
    const view = await call('GET /v1/runs/{id}', { params: { id } }, 200);
    assert.equal((view.body as { status: string }).status, 'completed');
    assert.equal((view.body as { steps: unknown[] }).steps.length, 2);

    await createRun(api!.url, 'write_file second.txt x'); // a second run, so the list has a second page
    await waitUntil('both runs listed completed', async () => {
      const page = (await (await apiFetch(`${api!.url}/v1/runs?status=completed`)).json()) as { runs: unknown[] };
      return page.runs.length >= 2;
    });
    const first = await call('GET /v1/runs', { query: 'status=completed,failed&limit=1' }, 200);
    const page = first.body as { runs: { id: string }[]; nextCursor: string | null };
    assert.equal(page.runs.length, 1);
    assert.ok(page.nextCursor);
    const next = await call('GET /v1/runs', { query: `status=completed&limit=1&cursor=${encodeURIComponent(page.nextCursor)}` }, 200);
    assert.equal((next.body as { runs: unknown[] }).runs.length, 1);

    for (const [action, payload] of [['cancel'], ['approve', { approved: true }], ['pause'], ['resume'], ['messages', { text: 'still there?' }]] as const) {
      const closed = await call(`POST /v1/runs/{id}/${action}`, { params: { id }, body: payload }, 409);
      assert.equal(errorCode(closed), 'run_closed');
    }

    const files = await call('GET /v1/runs/{id}/files', { params: { id } }, 200);
    assert.ok((files.body as { files: { path: string }[] }).files.some((f) => f.path === 'notes/hello.txt'));
    const file = await call('GET /v1/runs/{id}/files/{path}', { params: { id, path: 'notes/hello.txt' } }, 200);
    assert.equal(file.body, 'hi there');
    assert.match(file.headers.get('content-disposition') ?? '', /^attachment/);
    const missing = await call('GET /v1/runs/{id}/files/{path}', { params: { id, path: 'notes/nope.txt' } }, 404);
    assert.equal(errorCode(missing), 'file_not_found');
    const unsafe = await call('GET /v1/runs/{id}/files/{path}', { params: { id, path: '..%2F..%2Fother' } }, 400);
    assert.equal(errorCode(unsafe), 'invalid_path');
  });

  it('controls of a live run are 202: a message, pause and resume while it waits, then approve; cancel ends another', async () => {
    const held = await call('POST /v1/runs', { body: { prompt: 'write_file held.txt ok', requireApproval: true } }, 202);
    const id = (held.body as { id: string }).id;
    await waitStatus(id, 'awaiting_approval');
    for (const [action, payload] of [['messages', { text: 'go ahead when approved' }], ['pause'], ['resume'], ['approve', { approved: true, comment: 'fine' }]] as const) {
      const accepted = await call(`POST /v1/runs/{id}/${action}`, { params: { id }, body: payload }, 202);
      assert.equal((accepted.body as { accepted: boolean }).accepted, true);
    }
    await collect(api!.url, id);
    assert.equal(await runStatus(id), 'completed');

    const other = await call('POST /v1/runs', { body: { prompt: 'write_file never.txt x', requireApproval: true } }, 202);
    const otherId = (other.body as { id: string }).id;
    await waitStatus(otherId, 'awaiting_approval');
    await call('POST /v1/runs/{id}/cancel', { params: { id: otherId } }, 202);
    await waitStatus(otherId, 'cancelled');
  });

  it('a fork of an ended run is 202 with its parent and step; one after the last step is 409', async () => {
    const two = await call('POST /v1/runs', { body: { prompt: 'write_file one.txt 1\nwrite_file two.txt 2' } }, 202);
    const id = (two.body as { id: string }).id;
    await collect(api!.url, id);
    const fork = await call('POST /v1/runs/{id}/fork', { params: { id }, body: { fromStep: 1 } }, 202);
    assert.deepEqual((fork.body as { forkOf: unknown }).forkOf, { runId: id, step: 1 });
    await collect(api!.url, (fork.body as { id: string }).id);
    assert.equal(errorCode(await call('POST /v1/runs/{id}/fork', { params: { id }, body: { fromStep: 2 } }, 409)), 'nothing_after_step');
  });

  it('refusals are the documented error shape: 400, 401, 404, 413, 415', async () => {
    for (const token of [null, 'not-a-jwt']) {
      const res = await call('GET /v1/runs', { token }, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    }
    assert.match((await call('POST /v1/runs', { body: {} }, 400).then((a) => a.body as { error: { message: string } })).error.message, /^prompt: is required/);
    await call('POST /v1/runs', { body: { prompt: 'write_file x.txt x', colour: 'blue' } }, 400);
    assert.equal(errorCode(await call('POST /v1/runs', { raw: { type: 'application/json', data: '{"prompt":' } }, 400)), 'invalid_json');
    await call('POST /v1/runs', { raw: { type: 'text/plain', data: 'write_file x.txt x' } }, 415);
    assert.equal(errorCode(await call('POST /v1/runs', { body: { prompt: 'x'.repeat(300_000) } }, 413)), 'body_too_large');
    await call('GET /v1/runs', { query: 'limit=0' }, 400);
    await call('GET /v1/runs', { query: 'status=done' }, 400);
    for (const id of ['run_00000000000000000000000000', 'nonsense']) {
      assert.equal(errorCode(await call('GET /v1/runs/{id}', { params: { id } }, 404)), 'not_found');
    }
    await call('GET /v1/runs/{id}', { params: { id: '%ZZ' } }, 400);
    await call('GET /v1/runs/{id}/events', { params: { id: 'run_00000000000000000000000000' } }, 404);
    await call('GET /v1/runs/{id}/events', { params: { id: finished }, headers: { 'last-event-id': 'yesterday' } }, 400);
    await call('GET /v1/runs/{id}/files', { params: { id: finished }, query: 'limit=5000' }, 400);
    await call('POST /v1/runs/{id}/messages', { params: { id: finished }, body: { text: '' } }, 400);
    await call('POST /v1/runs/{id}/approve', { params: { id: finished }, raw: { type: 'text/plain', data: 'yes' } }, 415);
    await call('POST /v1/runs/{id}/cancel', { params: { id: 'run_00000000000000000000000000' } }, 404);
  });

  it('the seeds\' /agent/execute and log stream: 201, 200, 202, the stream; 409 on an ended run; 400 and 404 name the problem', async () => {
    const exec = (body: unknown, expected: number) => call('POST /agent/execute', { body }, expected);
    const created = await exec({ action: 'create', prompt: 'write_file seed.txt from the seeds' }, 201);
    const id = (created.body as { run_id: string }).run_id;
    assert.equal(((await exec({ action: 'status', run_id: id }, 200)).body as { status: string }).status, 'created');
    assert.equal(((await exec({ action: 'start', run_id: id }, 202)).body as { started: boolean }).started, true);
    const stream = await call('GET /agent/logs/{runId}/stream', { params: { runId: id } }, 200);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.match(stream.body as string, /event: end/);
    assert.equal(((await exec({ action: 'status', run_id: id }, 200)).body as { status: string }).status, 'completed');
    assert.equal(((await exec({ action: 'start', run_id: id }, 200)).body as { started: boolean }).started, false);
    assert.equal(errorCode(await exec({ action: 'stop', run_id: id }, 409)), 'run_closed');
    assert.equal(errorCode(await exec({ action: 'retry', run_id: id }, 409)), 'run_not_retryable');

    const long = ((await exec({ action: 'create', prompt: 'shell sleep 30' }, 201)).body as { run_id: string }).run_id;
    await exec({ action: 'start', run_id: long }, 202);
    await waitStatus(long, 'running');
    assert.equal(((await exec({ action: 'stop', run_id: long }, 202)).body as { status: string }).status, 'cancelling');
    await waitStatus(long, 'cancelled');
    const retried = (await exec({ action: 'retry', run_id: long }, 202)).body as { run_id: string; retry_of: string };
    assert.equal(retried.retry_of, long);
    await call('POST /v1/runs/{id}/cancel', { params: { id: retried.run_id } }, 202);

    await exec({ action: 'launch' }, 400);
    await exec({ action: 'start' }, 400);
    await exec({ action: 'status', run_id: 'run_00000000000000000000000000' }, 404);
    await call('POST /agent/execute', { raw: { type: 'text/plain', data: 'create' } }, 415);
    await call('GET /agent/logs/{runId}/stream', { params: { runId: 'run_00000000000000000000000000' } }, 404);
  });

  it('the queue facade answers operators: stats, dead letters and their retry; 401 without a token, 403 for another user', async () => {
    await call('GET /v1/queue', {}, 200);
    const failed = await createRun(api!.url, 'shell false');
    const entries = async () => (await (await apiFetch(`${api!.url}/v1/queue/failed`)).json()) as { entries: { id: string; runId: string | null }[] };
    await waitUntil(`run ${failed} dead-lettered`, async () => (await entries()).entries.some((e) => e.runId === failed), 60_000);
    const listed = await call('GET /v1/queue/failed', { query: 'limit=10' }, 200);
    const entry = (listed.body as { entries: { id: string; runId: string | null }[] }).entries.find((e) => e.runId === failed)!;
    const stats = await call('GET /v1/queue', {}, 200);
    assert.ok((stats.body as { queues: { failed: { count: number } } }).queues.failed.count >= 1);
    const retried = await call('POST /v1/queue/failed/{id}/retry', { params: { id: entry.id } }, 202);
    assert.equal((retried.body as { retryOf: string }).retryOf, failed);
    await call('POST /v1/queue/failed/{id}/retry', { params: { id: entry.id } }, 404);
    await call('GET /v1/queue/failed', { query: 'limit=0' }, 400);
    // The failed `shell false` run above counted against the user's shell breaker.
    const breakers = await call('GET /v1/queue/breakers', {}, 200);
    assert.ok((breakers.body as { breakers: { userId: string; tool: string; failures: number }[] }).breakers.some((b) => b.userId === user && b.tool === 'shell' && b.failures >= 1));
    await call('DELETE /v1/queue/breakers/{userId}/{tool}', { params: { userId: user, tool: 'shell' } }, 200);
    assert.equal(errorCode(await call('DELETE /v1/queue/breakers/{userId}/{tool}', { params: { userId: user, tool: 'shell' } }, 404)), 'not_found');
    await call('GET /v1/queue', { token: null }, 401);
    const stranger = await mintToken(await newUser(c, 0, 'notops'));
    for (const route of ['GET /v1/queue', 'GET /v1/queue/failed'] as const) {
      assert.equal(errorCode(await call(route, { token: stranger }, 403)), 'forbidden');
    }
    assert.equal(errorCode(await call('POST /v1/queue/failed/{id}/retry', { params: { id: entry.id }, token: stranger }, 403)), 'forbidden');
  });

  it('accounts: the caller\'s account and ledger; the operators\' user routes with their refusals; 403 for another user', async () => {
    const me = await call('GET /v1/me', {}, 200);
    assert.equal((me.body as { userId: string }).userId, user);
    await call('GET /v1/me/ledger', { query: 'limit=2' }, 200);
    await call('GET /v1/me/ledger', { query: 'limit=0' }, 400);
    const params = { userId: user };
    await call('GET /v1/users/{userId}', { params }, 200);
    assert.equal(errorCode(await call('GET /v1/users/{userId}', { params: { userId: `never-seen-${randomBytes(4).toString('hex')}` } }, 404)), 'unknown_user');
    await call('GET /v1/users/{userId}', { params: { userId: 'bad.id' } }, 400);
    await call('GET /v1/users/{userId}/ledger', { params, query: 'limit=5' }, 200);
    const key = { 'idempotency-key': `openapi-${randomBytes(4).toString('hex')}` };
    await call('POST /v1/users/{userId}/credits', { params, headers: key, body: { amount: 5, note: 'openapi' } }, 201);
    await call('POST /v1/users/{userId}/credits', { params, headers: key, body: { amount: 5, note: 'openapi' } }, 200);
    assert.equal(errorCode(await call('POST /v1/users/{userId}/credits', { params, headers: key, body: { amount: 6, note: 'openapi' } }, 422)), 'idempotency_key_reused');
    assert.equal(errorCode(await call('POST /v1/users/{userId}/credits', { params, headers: { 'idempotency-key': `${key['idempotency-key']}-big` }, body: { amount: -1_000_000_000, note: 'too much' } }, 409)), 'insufficient_credits');
    await call('POST /v1/users/{userId}/credits', { params, body: { amount: 5, note: 'no key' } }, 400);
    await call('POST /v1/users/{userId}/credits', { params, headers: key, raw: { type: 'text/plain', data: '5' } }, 415);
    await call('POST /v1/users/{userId}/credits', { params: { userId: 'nobody-here-at-all' }, headers: { 'idempotency-key': `${key['idempotency-key']}-nobody` }, body: { amount: 5, note: 'x' } }, 404);
    await call('PUT /v1/users/{userId}/limits', { params, body: { dailyTokenLimit: null, monthlyCostLimit: null } }, 200);
    await call('PUT /v1/users/{userId}/limits', { params, body: { dailyTokenLimit: 0, monthlyCostLimit: null } }, 400);
    await call('DELETE /v1/users/{userId}/limits', { params }, 200);
    const stranger = await mintToken(await newUser(c, 0, 'notops'));
    assert.equal(errorCode(await call('GET /v1/users/{userId}', { params, token: stranger }, 403)), 'forbidden');
    assert.equal(errorCode(await call('DELETE /v1/users/{userId}/limits', { params, token: stranger }, 403)), 'forbidden');
  });

  it('every operation in the document was seen answering', () => {
    const missing = operations(contract.doc).map((o) => o.op.operationId).filter((id) => !contract.seen.has(id));
    assert.deepEqual(missing, []);
  });
});
