/**
 * test/run.ts skips the type-check and the lint only on the very files they passed on:
 * any change to a source, a test, a root config or the lockfile checks again.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { inputsDigest, notePassed, passedOn } from '../helpers/check-cache.ts';

describe('the checks\' cache', () => {
  const root = mkdtempSync(join(tmpdir(), 'check-cache-'));
  const cache = join(root, '.data', 'cache');
  after(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  };

  it('a check that passed is skipped on the same files, and runs again after any change that could alter its verdict', () => {
    write('src/a.ts', 'export const a = 1;\n');
    write('test/a.test.ts', 'import "../src/a.ts";\n');
    write('package-lock.json', '{}');
    const first = inputsDigest(root);
    assert.equal(passedOn(cache, 'tsc', first), false, 'nothing passed yet');
    notePassed(cache, 'tsc', first);
    assert.equal(passedOn(cache, 'tsc', inputsDigest(root)), true);
    assert.equal(passedOn(cache, 'eslint', first), false, 'each check has its own record');

    const changes: [string, string][] = [
      ['src/a.ts', 'export const a = 2;\n'], // a source
      ['test/a.test.ts', 'import "../src/a.ts"; // x\n'], // a test
      ['src/deep/new.ts', 'export {};\n'], // a new file
      ['package-lock.json', '{"v":2}'], // the dependencies
      ['tsconfig.json', '{}'], // a config that did not exist
    ];
    for (const [path, text] of changes) {
      const before = inputsDigest(root);
      write(path, text);
      const now = inputsDigest(root);
      assert.notEqual(now, before, path);
      assert.equal(passedOn(cache, 'tsc', now), false, `${path} changed: checked again`);
    }
    // A file renamed with the same content is a change too (imports name files).
    const before = inputsDigest(root);
    rmSync(join(root, 'src/deep/new.ts'));
    write('src/deep/renamed.ts', 'export {};\n');
    assert.notEqual(inputsDigest(root), before);
  });
});
