/**
 * The wait Brave Search asks for before a retry (src/infra/brave-search.ts): Retry-After in
 * seconds or as an HTTP date, else on a 429 Brave's X-RateLimit-Reset (per window, the
 * spent windows' latest); and the client carrying it on SearchUnavailable from a local
 * server's real answer.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { braveSearch, retryDelayMs, SearchUnavailable } from '../../src/infra/brave-search.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const h = (o: Record<string, string>) => new Headers(o);

describe('the wait Brave Search asks for', () => {
  it('reads Retry-After in seconds and as an HTTP date', () => {
    assert.equal(retryDelayMs(h({ 'retry-after': '7' }), true, NOW), 7000);
    assert.equal(retryDelayMs(h({ 'retry-after': 'Sun, 01 Mar 2026 12:00:30 GMT' }), true, NOW), 30_000);
    assert.equal(retryDelayMs(h({ 'retry-after': 'Sun, 01 Mar 2026 12:00:30 GMT' }), false, NOW), 30_000, 'a 503 may say too');
    assert.equal(retryDelayMs(h({ 'retry-after': 'Sun, 01 Mar 2026 11:59:00 GMT' }), true, NOW), undefined, 'a date gone by: the usual backoff');
    assert.equal(retryDelayMs(h({ 'retry-after': 'soon' }), true, NOW), undefined);
    assert.equal(retryDelayMs(h({}), true, NOW), undefined);
  });

  it('on a 429 reads X-RateLimit-Reset: the spent windows\' latest reset, else the shortest window\'s', () => {
    assert.equal(retryDelayMs(h({ 'x-ratelimit-reset': '1, 1419704', 'x-ratelimit-remaining': '0, 1000' }), true, NOW), 1000);
    assert.equal(retryDelayMs(h({ 'x-ratelimit-reset': '1, 86400', 'x-ratelimit-remaining': '0, 0' }), true, NOW), 86_400_000, 'the monthly quota spent too');
    assert.equal(retryDelayMs(h({ 'x-ratelimit-reset': '3, 1419704' }), true, NOW), 3000);
    assert.equal(retryDelayMs(h({ 'retry-after': '2', 'x-ratelimit-reset': '9' }), true, NOW), 2000, 'Retry-After first');
    assert.equal(retryDelayMs(h({ 'x-ratelimit-reset': '9' }), false, NOW), undefined, 'only a 429 is a rate limit');
    assert.equal(retryDelayMs(h({ 'x-ratelimit-reset': 'x, 9' }), true, NOW), undefined);
  });
});

describe('braveSearch on a 429 from a local server', () => {
  const answers: Record<string, string>[] = [];
  const server = createServer((_req, res) => {
    res.writeHead(429, { 'content-type': 'application/json', ...answers.shift() });
    res.end(JSON.stringify({ type: 'ErrorResponse', error: { status: 429, code: 'RATE_LIMITED', detail: 'Request rate limit exceeded for plan.' } }));
  });
  let baseUrl = '';
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it('carries the wait on SearchUnavailable, and says it', async () => {
    for (const [headers, ms] of [[{ 'retry-after': '4' }, 4000], [{ 'x-ratelimit-reset': '2, 99999', 'x-ratelimit-remaining': '0, 12' }, 2000], [{}, undefined]] as const) {
      answers.push(headers);
      await assert.rejects(braveSearch({ apiKey: 'test-brave-key-0123456789', baseUrl }, 'q', 5),
        (err: unknown) => err instanceof SearchUnavailable && err.retryAfterMs === ms && err.message === `Brave Search answered 429${ms === undefined ? '' : ` (try again in ${ms / 1000} s)`}` || assert.fail(String(err)));
    }
  });
});
