/**
 * web_search through the API and the worker against a local server that speaks Brave
 * Search's API (the real request the client makes: path, query, X-Subscription-Token;
 * Brave's response and error shapes): results to the log (markup stripped) and to
 * search/NNN.json; a 429 retried no sooner than its Retry-After or X-RateLimit-Reset asked,
 * a 500 retried; a 401 failing the step with
 * Brave's reason; and a worker without BRAVE_API_KEY refusing the tool with the reason.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { apiFetch } from '../helpers/auth.ts';
import * as runs from '../helpers/runs.ts';
import { connectClients, newUser, stackEnv, startApi, startWorker, stop, uniqueQueue } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

const KEY = 'test-brave-key-0123456789';
const RETRY_AFTER_S = 5;

describe('web_search through the API and the worker (a local Brave Search API)', () => {
  let c: Clients;
  const procs: Proc[] = [];
  let api: Proc & { url: string };
  let bare: Proc & { url: string };
  const calls: { q: string | null; count: string | null; token: string | undefined }[] = [];
  const tries = new Map<string, number>();
  /** When each request for a query arrived (ms). */
  const arrivals = new Map<string, number[]>();
  const brave = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const q = url.searchParams.get('q');
    calls.push({ q, count: url.searchParams.get('count'), token: req.headers['x-subscription-token'] as string | undefined });
    const n = (tries.get(q ?? '') ?? 0) + 1;
    tries.set(q ?? '', n);
    arrivals.set(q ?? '', [...(arrivals.get(q ?? '') ?? []), Date.now()]);
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => { res.writeHead(status, { 'content-type': 'application/json', ...headers }); res.end(JSON.stringify(body)); };
    const error = (status: number, code: string, detail: string, headers: Record<string, string> = {}) => json(status, { type: 'ErrorResponse', error: { id: 'e1', status, code, detail, meta: {} }, time: 1 }, headers);
    if (url.pathname !== '/res/v1/web/search' || req.headers['x-subscription-token'] !== KEY) return error(401, 'SUBSCRIPTION_TOKEN_INVALID', 'The provided subscription token is invalid.');
    if (q === 'unauthorized please') return error(401, 'SUBSCRIPTION_TOKEN_INVALID', 'The provided subscription token is invalid.');
    // Longer than any backoff Temporal would choose for a first retry, so only honouring it explains the gap.
    if (q === 'rate limited' && n === 1) return error(429, 'RATE_LIMITED', 'Request rate limit exceeded for plan.', { 'retry-after': String(RETRY_AFTER_S) });
    if (q === 'rate limited by window' && n === 1) {
      return error(429, 'RATE_LIMITED', 'Request rate limit exceeded for plan.', { 'x-ratelimit-limit': '1, 15000', 'x-ratelimit-remaining': '0, 9000', 'x-ratelimit-reset': `${RETRY_AFTER_S}, 1419704` });
    }
    if (q === 'server trouble' && n === 1) return error(500, 'INTERNAL', 'Something went wrong.');
    json(200, {
      type: 'search', query: { original: q }, mixed: { type: 'mixed', main: [] },
      web: {
        type: 'search', family_friendly: true,
        results: [
          { title: '<strong>Durable</strong> execution', url: 'https://docs.temporal.io/', description: 'Temporal runs <strong>durable</strong> workflows &amp; more.', age: 'March 1, 2026', language: 'en' },
          { title: 'Second result', url: 'https://example.org/two', description: 'The second one.' },
        ],
      },
    });
  });

  before(async () => {
    c = await connectClients();
    await new Promise<void>((resolve) => brave.listen(0, '127.0.0.1', resolve));
    const user = await newUser(c, 10_000, 'search');
    const base = { ...stackEnv(), DEFAULT_USER_ID: user, OUTSIDE_RETRY_MS: '100' };
    const env = { ...base, TEMPORAL_TASK_QUEUE: uniqueQueue('search'), BRAVE_API_KEY: KEY, BRAVE_BASE_URL: `http://127.0.0.1:${(brave.address() as AddressInfo).port}` };
    const noKey = { ...base, TEMPORAL_TASK_QUEUE: uniqueQueue('nosearch') };
    const [w1, a1, w2, a2] = await Promise.all([startWorker(env), startApi(env), startWorker(noKey), startApi(noKey)]);
    procs.push(w1, a1, w2, a2);
    api = a1;
    bare = a2;
  });
  after(async () => {
    await Promise.all(procs.map((p) => stop(p)));
    brave.close();
    await c?.close();
  });

  const runToEnd = (base: string, prompt: string) => runs.runToEnd(base, prompt);

  it('puts the results on the log and in search/NNN.json, asking Brave with the key and the query', async () => {
    const { id, events, view } = await runToEnd(api.url, 'web_search durable execution\nread_file search/000.json');
    assert.equal(view.status, 'completed', JSON.stringify(view.error));
    const log = events.find((e) => e.event === 'log' && e.data.stream === 'search')!.data;
    assert.equal(log.query, 'durable execution');
    assert.deepEqual(log.results, [
      { title: 'Durable execution', url: 'https://docs.temporal.io/', snippet: 'Temporal runs durable workflows & more.' },
      { title: 'Second result', url: 'https://example.org/two', snippet: 'The second one.' },
    ]);
    assert.equal(log.text, '1. Durable execution — https://docs.temporal.io/\n2. Second result — https://example.org/two');
    const saved = JSON.parse(await (await apiFetch(`${api.url}/v1/runs/${id}/files/search/000.json`)).text()) as { query: string; results: unknown[] };
    assert.equal(saved.query, 'durable execution');
    assert.equal(saved.results.length, 2);
    assert.deepEqual(calls.find((x) => x.q === 'durable execution'), { q: 'durable execution', count: '10', token: KEY });
  });

  it('retries a 429 no sooner than its Retry-After (or X-RateLimit-Reset) asked, and a 500', async () => {
    for (const q of ['rate limited', 'rate limited by window', 'server trouble']) {
      const { id, view } = await runToEnd(api.url, `web_search ${q}`);
      assert.equal(view.status, 'completed', `${q}: ${JSON.stringify(view.error)}`);
      assert.equal(tries.get(q), 2, q);
      if (q === 'server trouble') continue;
      const [first, second] = arrivals.get(q)!;
      assert.ok(second! - first! >= RETRY_AFTER_S * 1000, `${q}: the retry came ${second! - first!} ms after the 429`);
      // The failed attempt, as Temporal recorded it (the last failure of the attempt that succeeded), carries the wait.
      const history = await c.temporal.workflow.getHandle(id).fetchHistory();
      const info = history.events!.map((e) => e.activityTaskStartedEventAttributes?.lastFailure?.applicationFailureInfo).find((f) => f?.type === 'SearchUnavailable');
      assert.equal(Number(info?.nextRetryDelay?.seconds ?? -1), RETRY_AFTER_S, `${q}: ${JSON.stringify(info)}`);
    }
  });

  it('fails the run with Brave\'s reason on a 401, without retrying', async () => {
    const { view } = await runToEnd(api.url, 'web_search unauthorized please');
    assert.equal(view.status, 'failed');
    assert.match(view.error?.message ?? '', /Brave Search refused the query \(401\).*subscription token is invalid/);
    assert.equal(tries.get('unauthorized please'), 1);
  });

  it('without BRAVE_API_KEY the tool is refused with the reason', async () => {
    const { view } = await runToEnd(bare.url, 'web_search anything at all');
    assert.equal(view.status, 'failed');
    assert.match(view.error?.message ?? '', /web_search is not available here: the worker has no BRAVE_API_KEY/);
    assert.equal(tries.get('anything at all'), undefined);
  });
});
