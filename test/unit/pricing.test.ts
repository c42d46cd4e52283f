/**
 * The prices of the tools that reach out (src/shared/pricing.ts), as the README's "Records
 * and credits" states them: fetch_url, web_search and an MCP call 1 credit flat, a browser
 * page 3 flat, whatever their time; each held exactly (its hold is its price).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PRICES, stepCredits, stepMaxCredits } from '../../src/shared/pricing.ts';
import type { PlanStep } from '../../src/shared/run.ts';

const limits = { defaultMs: 60_000, maxMs: 600_000 };

describe('prices of the outside tools', () => {
  for (const [step, price] of [
    [{ tool: 'fetch_url', url: 'https://example.org/', path: 'page.html' }, 1],
    [{ tool: 'web_search', query: 'durable execution', count: 5 }, 1],
    [{ tool: 'mcp', server: 'everything', name: 'echo', arguments: { message: 'hi' } }, 1],
    [{ tool: 'browser', url: 'https://example.org/', screenshot: 'shot.png', text: true }, 3],
  ] as [PlanStep, number][]) {
    it(`${step.tool} costs ${price} credit(s) however long it ran, and holds exactly that`, () => {
      for (const durationMs of [0, 9_999, 10_001, 3_600_000]) assert.equal(stepCredits(step, { durationMs }), price, `${durationMs} ms`);
      assert.equal(stepMaxCredits(step, limits), price);
    });
  }

  it('the browser\'s price is its own constant; the others the base price', () => {
    assert.deepEqual([PRICES.browserPage, PRICES.stepBase], [3, 1]);
  });
});
