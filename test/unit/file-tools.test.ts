import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentTypeFor, DEFAULT_CONTENT_TYPE } from '../../src/shared/content-type.ts';
import { PRICES, stepCredits } from '../../src/shared/pricing.ts';
import { planStep, TOOL_NAMES } from '../../src/shared/run.ts';
import { supervisorDecision } from '../../src/shared/supervisor.ts';

describe('workspace file tools (pure parts)', () => {
  it('derives content types from the extension, text/plain by default', () => {
    assert.equal(contentTypeFor('notes/a.md'), 'text/markdown; charset=utf-8');
    assert.equal(contentTypeFor('data/X.JSON'), 'application/json; charset=utf-8');
    assert.equal(contentTypeFor('a/b.tar.gz'), 'application/gzip');
    assert.equal(contentTypeFor('img.png'), 'image/png');
    for (const p of ['README', 'a/.env', 'a.', 'weird.ext', 'dir.d/file']) assert.equal(contentTypeFor(p), DEFAULT_CONTENT_TYPE, p);
    assert.equal(DEFAULT_CONTENT_TYPE, 'text/plain; charset=utf-8');
  });

  it('validates the new steps with the plan schema (and so the Anthropic tool schema and supervisor retries)', () => {
    assert.deepEqual(planStep.parse({ tool: 'list_files' }), { tool: 'list_files' });
    assert.deepEqual(planStep.parse({ tool: 'list_files', prefix: 'notes/' }), { tool: 'list_files', prefix: 'notes/' });
    assert.deepEqual(planStep.parse({ tool: 'stat_file', path: 'a' }), { tool: 'stat_file', path: 'a' });
    assert.deepEqual(planStep.parse({ tool: 'delete_file', path: 'a' }), { tool: 'delete_file', path: 'a' });
    assert.equal(planStep.safeParse({ tool: 'stat_file' }).success, false);
    assert.equal(planStep.safeParse({ tool: 'delete_file', path: '' }).success, false);
    assert.equal(supervisorDecision.safeParse({ action: 'retry', reason: 'r', step: { tool: 'delete_file', path: 'x' } }).success, true);
    for (const t of ['list_files', 'stat_file', 'delete_file']) assert.ok(TOOL_NAMES.includes(t as never), t);
  });

  it('prices every file step at the base step price', () => {
    for (const step of [
      { tool: 'write_file' as const, path: 'a', content: 'x' }, { tool: 'read_file' as const, path: 'a' },
      { tool: 'list_files' as const }, { tool: 'stat_file' as const, path: 'a' }, { tool: 'delete_file' as const, path: 'a' },
    ]) assert.equal(stepCredits(step, { durationMs: 60_000 }), PRICES.stepBase, step.tool);
  });
});
