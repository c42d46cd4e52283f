import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { planFromPrompt, PromptSyntaxError } from '../../src/shared/offline-planner.ts';
import { plan as planSchema, planStep, TOOL_NAMES } from '../../src/shared/run.ts';
import { supervisorDecision } from '../../src/shared/supervisor.ts';

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

  it('plans the workspace file tools: list_files, stat_file, delete_file', () => {
    const plan = planFromPrompt('list_files\nlist_files notes/\nstat_file notes/a.md\ndelete_file notes/a.md');
    assert.deepEqual(plan.steps, [
      { tool: 'list_files' },
      { tool: 'list_files', prefix: 'notes/' },
      { tool: 'stat_file', path: 'notes/a.md' },
      { tool: 'delete_file', path: 'notes/a.md' },
    ]);
    assert.throws(() => planFromPrompt('list_files a b'), /line 1: list_files takes at most a prefix/);
    assert.throws(() => planFromPrompt('stat_file'), /stat_file needs a path/);
    assert.throws(() => planFromPrompt('delete_file a b'), /delete_file takes only a path/);
  });

  it('plans fetch_url steps: a URL, and optionally the workspace path to save it at', () => {
    assert.deepEqual(planFromPrompt('fetch_url https://example.com/a?b=1\nfetch_url https://example.com/x.pdf docs/x.pdf').steps, [
      { tool: 'fetch_url', url: 'https://example.com/a?b=1' },
      { tool: 'fetch_url', url: 'https://example.com/x.pdf', path: 'docs/x.pdf' },
    ]);
    assert.throws(() => planFromPrompt('fetch_url'), /line 1: fetch_url takes a URL and, optionally, a workspace path/);
    assert.throws(() => planFromPrompt('fetch_url a b c'), /fetch_url takes a URL/);
  });

  it('plans browser steps: a URL, a screenshot path, the text (saved at a path, or browser/NNN.txt)', () => {
    assert.deepEqual(planFromPrompt('browser https://example.com/\nbrowser https://example.com/a --screenshot shots/a.png --text\nbrowser https://example.com/b --text notes/b.txt').steps, [
      { tool: 'browser', url: 'https://example.com/' },
      { tool: 'browser', url: 'https://example.com/a', screenshot: 'shots/a.png', text: true },
      { tool: 'browser', url: 'https://example.com/b', text: 'notes/b.txt' },
    ]);
    assert.throws(() => planFromPrompt('browser'), /line 1: browser needs a URL/);
    assert.throws(() => planFromPrompt('browser --text'), /browser needs a URL/);
    assert.throws(() => planFromPrompt('browser https://x/ --screenshot'), /--screenshot needs a workspace path/);
    assert.throws(() => planFromPrompt('browser https://x/ --full-page'), /browser takes a URL, --screenshot <path> and --text \[<path>\], not --full-page/);
  });

  it('plans mcp steps: <server>.<tool> and a JSON object of arguments', () => {
    assert.deepEqual(planFromPrompt('mcp everything.echo {"message": "hi there"}\nmcp fs.list_allowed_directories').steps, [
      { tool: 'mcp', server: 'everything', name: 'echo', arguments: { message: 'hi there' } },
      { tool: 'mcp', server: 'fs', name: 'list_allowed_directories' },
    ]);
    assert.throws(() => planFromPrompt('mcp echo'), /line 1: mcp needs <server>\.<tool>/);
    assert.throws(() => planFromPrompt('mcp Bad.echo'), /mcp needs <server>\.<tool>/);
    assert.throws(() => planFromPrompt('mcp a.b {nope'), /mcp arguments are not JSON/);
    assert.throws(() => planFromPrompt('mcp a.b [1]'), /mcp arguments must be a JSON object/);
  });

  it('plans web_search steps: the rest of the line is the query', () => {
    assert.deepEqual(planFromPrompt('web_search  durable execution on Temporal ').steps, [{ tool: 'web_search', query: 'durable execution on Temporal' }]);
    assert.throws(() => planFromPrompt('web_search'), /line 1: web_search needs a query/);
  });

  it('plans code steps: `code <language>: <source>`, with write_file escapes', () => {
    const plan = planFromPrompt([
      'code python: import os\\nprint(len(os.listdir(".")))',
      'code node:console.log("a\\tb")',
      'code bash:   echo "$HOME" | wc -c',
      '  code python: print("x\\\\n")  ',
    ].join('\n'));
    assert.deepEqual(plan.steps, [
      { tool: 'code', language: 'python', source: 'import os\nprint(len(os.listdir(".")))' },
      { tool: 'code', language: 'node', source: 'console.log("a\tb")' },
      { tool: 'code', language: 'bash', source: 'echo "$HOME" | wc -c' },
      { tool: 'code', language: 'python', source: 'print("x\\n")' },
    ]);
  });

  it('keeps lines that only start with the word code as prose, and names a bad code line', () => {
    assert.deepEqual(planFromPrompt('code review the notes\nread_file a').steps, [{ tool: 'read_file', path: 'a' }]);
    assert.equal(planFromPrompt('code review the notes\nread_file a').summary, 'code review the notes');
    assert.throws(() => planFromPrompt('ok\ncode ruby: puts 1'), (e: unknown) => e instanceof PromptSyntaxError && e.line === 2 && /code language ruby is not one of python, node, bash/.test(e.message));
    assert.throws(() => planFromPrompt('code python:'), /line 1: code needs source after the colon/);
    assert.throws(() => planFromPrompt('code python:   '), /code needs source/);
  });

  it('gives code steps a schema the supervisor and the Anthropic tool accept', () => {
    assert.ok(TOOL_NAMES.includes('code'));
    const step = planFromPrompt('code python: print(1)').steps[0];
    assert.deepEqual(planStep.parse(step), step);
    assert.equal(supervisorDecision.safeParse({ action: 'retry', reason: 'fix', step: { tool: 'code', language: 'node', source: 'x()', timeoutMs: 5000 } }).success, true);
    assert.equal(planStep.safeParse({ tool: 'code', language: 'ruby', source: 'x' }).success, false);
    assert.equal(planStep.safeParse({ tool: 'code', language: 'python', source: '' }).success, false);
    // The submit_plan input schema is generated from the same zod schema: it lists the code step.
    const json = JSON.stringify(z.toJSONSchema(planSchema, { target: 'draft-2020-12' }));
    assert.match(json, /"const":"code"/);
    assert.match(json, /"enum":\["python","node","bash"\]/);
  });

  it('is deterministic', () => {
    const prompt = 'write_file x y\nshell ls';
    assert.deepEqual(planFromPrompt(prompt), planFromPrompt(prompt));
  });
});
