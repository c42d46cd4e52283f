/** What the CLI and the web page show for a `browser` log event. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { browserLogLines } from '../../src/client/log-lines.ts';

describe('browserLogLines', () => {
  it('shows title, final URL and status, each refused request with its rule, then the text', () => {
    assert.deepEqual(browserLogLines({
      stream: 'browser', title: 'A "page"', url: 'https://example.com/final', status: 200, loaded: true,
      refused: [{ url: 'http://10.0.0.1/x.png', reason: '10.0.0.1 is a private address' }], text: 'line one\nline two',
    }), [
      'page: "A \\"page\\"" at https://example.com/final (200)',
      'refused: http://10.0.0.1/x.png — 10.0.0.1 is a private address',
      'line one', 'line two',
    ]);
  });

  it('says when the page was still loading, and shows no text it was not asked for', () => {
    assert.deepEqual(browserLogLines({ stream: 'browser', title: '', url: 'https://slow.example/', loaded: false, refused: [] }), ['page: "" at https://slow.example/, still loading']);
  });
});
