import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkWorkspacePath, InvalidPathError, keyUnder } from '../../src/shared/workspace-path.ts';

describe('workspace path safety', () => {
  it('accepts plain relative paths and returns them in NFC', () => {
    assert.equal(checkWorkspacePath('a/b/c.txt'), 'a/b/c.txt');
    assert.equal(checkWorkspacePath('notes/.hidden'), 'notes/.hidden');
    assert.equal(checkWorkspacePath('cafe\u0301.md'), 'caf\u00e9.md');
  });

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['/etc/passwd', /absolute/],
    ['C:/x', /absolute/],
    ['../x', /'\.\.'/],
    ['a/../../x', /'\.\.'/],
    ['a/./b', /'\.'/],
    ['a//b', /empty segment/],
    ['a/', /empty segment/],
    ['a\\b', /backslash/],
    ['a\u0000b', /control/],
    ['a\nb', /control/],
    ['a\u202eb', /bidi/],
    ['a\u200bb', /zero-width/],
    ['%2e%2e/x', /percent/],
    ['a%2fb', /percent/],
    ['\uff0e\uff0e/x', /looks like/],
    ['a\u2215b', /looks like/],
    ['a\uff0fb', /looks like/],
    ['x'.repeat(2000), /longer/],
  ];
  for (const [input, reason] of bad) {
    it(`rejects ${JSON.stringify(input.slice(0, 20))}`, () => {
      assert.throws(() => checkWorkspacePath(input), (e: unknown) => e instanceof InvalidPathError && reason.test(e.message));
    });
  }

  it('rejects characters whose compatibility form is a dot segment', () => {
    // U+2024 ONE DOT LEADER is caught as a look-alike; U+FE52 SMALL FULL STOP likewise.
    assert.throws(() => checkWorkspacePath('\u2024\u2024/x'), InvalidPathError);
    assert.throws(() => checkWorkspacePath('\ufe52\ufe52/x'), InvalidPathError);
  });

  it('keeps every key under the prefix', () => {
    assert.equal(keyUnder('users/u/runs/r/files/', 'a.txt'), 'users/u/runs/r/files/a.txt');
    assert.throws(() => keyUnder('users/u/runs/r/files/', '../../other/a.txt'), InvalidPathError);
    assert.throws(() => keyUnder('no-slash', 'a'), /must end with/);
  });
});
