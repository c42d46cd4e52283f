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

  // Traversal, encoding and look-alike tricks a model or a user might send, with the reason each is refused.
  const nasty: [string, RegExp][] = [
    ['..%2f', /percent/],
    ['..%2F..%2Fetc/passwd', /percent/],
    ['%2e%2e/', /percent/],
    ['%2e%2e%2fx', /percent/],
    ['%252e%252e/x', /percent/],
    ['a%00b', /percent/],
    ['\uff0f', /looks like/], // fullwidth solidus
    ['a/\uff0fetc', /looks like/],
    ['\uff0e\uff0e/x', /looks like/], // fullwidth full stops: '..' after NFKC
    ['\uff0e\uff0e\uff0fx', /looks like/],
    ['a\u2215b', /looks like/], // division slash
    ['a\u2044b', /looks like/], // fraction slash
    ['a\u29f8b', /looks like/], // big solidus
    ['a\ufe68b', /looks like/], // small reverse solidus
    ['a\uff3cb', /looks like/], // fullwidth reverse solidus
    ['\u2025/x', /looks like/], // two dot leader
    ['\u3002\u3002/x', /looks like/], // ideographic full stop
    ['\uff61\uff61/x', /looks like/], // halfwidth ideographic full stop
    ['a/./b', /'\.'/],
    ['./a', /'\.'/],
    ['.', /'\.'/],
    ['..', /'\.\.'/],
    ['a/..', /'\.\.'/],
    ['a/b/../../..', /'\.\.'/],
    ['C:\\x', /backslash/],
    ['C:x', /absolute/],
    ['c:/windows', /absolute/],
    ['//server/share', /absolute/],
    ['/', /absolute/],
    ['\\\\server\\share', /backslash/],
    ['\u202e', /bidi/], // right-to-left override
    ['evil\u202etxt.exe', /bidi/],
    ['a\u2066b', /bidi/],
    ['a\u061cb', /bidi/],
    ['a\u200db', /zero-width/],
    ['\ufeffa', /zero-width/],
    ['a\u2028b', /control/], // line separator
    ['a\u0085b', /control/], // NEL (C1)
    ['a\tb', /control/],
    ['a\rb', /control/],
    ['a\u007fb', /control/],
    ['a\ud800b', /surrogate/],
    ['\udc00', /surrogate/],
    ['x'.repeat(1025), /longer than 1024/],
    ['a/' + 'x'.repeat(256), /segment longer/],
    ['a//b', /empty segment/],
    ['a/', /empty segment/],
    ['a/b/', /empty segment/],
    ['file:///etc/passwd', /empty segment/],
  ];
  for (const [input, reason] of nasty) {
    it(`refuses the nasty path ${JSON.stringify(input.slice(0, 24))}`, () => {
      assert.throws(() => checkWorkspacePath(input), (e: unknown) => e instanceof InvalidPathError && reason.test(e.reason) && e.path === input);
    });
  }

  it('accepts odd but harmless names, unchanged or in NFC', () => {
    const fine: [string, string][] = [
      ['\ufb01le.txt', '\ufb01le.txt'], // 'ﬁ' ligature: NFKC gives 'file', no separator or dot segment
      ['\uff41\uff42\uff43', '\uff41\uff42\uff43'], // fullwidth letters
      ['...', '...'],
      ['a/.../b', 'a/.../b'],
      ['.git/config', '.git/config'],
      ['~/x', '~/x'],
      ['$HOME/x', '$HOME/x'],
      ['a b/c d.md', 'a b/c d.md'],
      ['100%', '100%'],
      ['%zz', '%zz'],
      ['Ω', 'Ω'],
      ['x'.repeat(255), 'x'.repeat(255)],
      [Array.from({ length: 8 }, () => 'x'.repeat(127)).join('/'), Array.from({ length: 8 }, () => 'x'.repeat(127)).join('/')],
    ];
    for (const [input, out] of fine) assert.equal(checkWorkspacePath(input), out, JSON.stringify(input));
  });

  it('property: any accepted path yields a key under the prefix that names no parent', () => {
    // Deterministic pseudo-random paths built from an alphabet rich in the dangerous pieces.
    const pieces = ['a', 'b', '.', '..', '/', '//', '\\', '%2e', '%2f', '%', '\uff0e', '\uff0f', '\u2215', '\u2024', ':', 'C:', ' ',
      '\u0301', 'e\u0301', '\ufb01', '\u202e', '\u0000', '\n', '~', '-', '_', '\u00e9', '\u3002', '\ud800', 'x', '.txt'];
    let seed = 0x2545f491;
    const next = () => {
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
      return (seed >>> 0) / 0x1_0000_0000;
    };
    const prefix = 'users/u/runs/run_0123456789abcdefghijklmnop/files/';
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const n = 1 + Math.floor(next() * 8);
      let input = '';
      for (let j = 0; j < n; j++) input += pieces[Math.floor(next() * pieces.length)];
      let key: string;
      try {
        key = keyUnder(prefix, input);
      } catch (err) {
        assert.ok(err instanceof InvalidPathError, `unexpected error for ${JSON.stringify(input)}: ${String(err)}`);
        continue;
      }
      accepted += 1;
      assert.ok(key.startsWith(prefix), key);
      const rest = key.slice(prefix.length);
      for (const form of [rest, rest.normalize('NFKC'), rest.normalize('NFKD')]) {
        const segments = form.split('/');
        assert.ok(segments.every((seg) => seg !== '' && seg !== '.' && seg !== '..'), `${JSON.stringify(input)} → ${JSON.stringify(form)}`);
        assert.ok(!form.includes('\\'), JSON.stringify(input));
      }
      for (const form of [rest, rest.normalize('NFKC')]) assert.ok(!/%[0-9a-f]{2}/i.test(form), `${JSON.stringify(input)} has a percent escape`);
      assert.equal(checkWorkspacePath(rest), rest, 'accepted paths are canonical (idempotent)');
      assert.doesNotThrow(() => encodeURIComponent(rest), 'accepted paths are well-formed Unicode');
    }
    assert.ok(accepted > 500, `the generator should produce some safe paths (got ${accepted})`);
  });

  it('keeps every key under the prefix', () => {
    assert.equal(keyUnder('users/u/runs/r/files/', 'a.txt'), 'users/u/runs/r/files/a.txt');
    assert.throws(() => keyUnder('users/u/runs/r/files/', '../../other/a.txt'), InvalidPathError);
    assert.throws(() => keyUnder('no-slash', 'a'), /must end with/);
  });
});
