import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planFromPrompt, PromptSyntaxError } from '../../src/shared/offline-planner.ts';

describe('offline planner', () => {
  it('turns tool lines into steps in order, prose into the summary', () => {
    const plan = planFromPrompt('Make a greeting.\nwrite_file a/b.txt hi\\nthere\nshell echo "two words" x\n# comment\nread_file a/b.txt');
    assert.equal(plan.summary, 'Make a greeting.');
    assert.deepEqual(plan.steps, [
      { tool: 'write_file', path: 'a/b.txt', content: 'hi\nthere' },
      { tool: 'shell', argv: ['echo', 'two words', 'x'] },
      { tool: 'read_file', path: 'a/b.txt' },
    ]);
  });

  it('gives a prompt without tool lines one step that saves it', () => {
    const plan = planFromPrompt('just think about it');
    assert.deepEqual(plan.steps, [{ tool: 'write_file', path: 'prompt.md', content: 'just think about it' }]);
  });

  it('keeps shell metacharacters as plain argv words', () => {
    const plan = planFromPrompt('shell echo $(rm -rf /) ; `id` | cat');
    assert.deepEqual(plan.steps[0], { tool: 'shell', argv: ['echo', '$(rm', '-rf', '/)', ';', '`id`', '|', 'cat'] });
  });

  it('names the line of a syntax error', () => {
    assert.throws(() => planFromPrompt('ok\nshell echo "open'), (e: unknown) => e instanceof PromptSyntaxError && e.line === 2 && /unterminated/.test(e.message));
    assert.throws(() => planFromPrompt('read_file'), /line 1: read_file needs a path/);
    assert.throws(() => planFromPrompt('read_file a b'), /read_file takes only a path/);
    assert.throws(() => planFromPrompt('shell'), /shell needs a command/);
  });

  it('is deterministic', () => {
    const prompt = 'write_file x y\nshell ls';
    assert.deepEqual(planFromPrompt(prompt), planFromPrompt(prompt));
  });
});
