/**
 * The shape of src/ stays as README's map says: no import cycles (dynamic imports
 * included), no file over 300 lines, every folder opens with what it owns, and the
 * map names every folder once. Layering itself is ESLint's (eslint.config.js).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'src');
const MAX_LINES = 300;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative import of a file (static, `export … from`, type-only and `import()`), resolved to a path. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map((f) => f.fileName).filter((name) => name.startsWith('.')).map((name) => resolve(dirname(file), name));
}

/** The strongly connected components with more than one file (or a file importing itself): Tarjan's algorithm. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next); low.set(v, next); next++;
    stack.push(v); onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** The "The parts" section of README.md: the bullets that name a src/ folder. */
function readmeMap(): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = /^## The parts\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
  const bullets = section.split(/\n(?=- )/).filter((b) => b.startsWith('- '));
  const map = new Map<string, string>();
  for (const bullet of bullets) {
    for (const [, folder] of bullet.matchAll(/^- `src\/([a-z-]+)\/`|; `src\/([a-z-]+)\/`/g)) {
      if (folder) {
        assert.ok(!map.has(folder), `README's map lists src/${folder}/ twice`);
        map.set(folder, bullet);
      }
    }
  }
  return map;
}

const files = sourceFiles(SRC);

describe('the shape of src/', () => {
  it('has no import cycle, dynamic imports included', () => {
    const graph = new Map(files.map((f) => [f, importsOf(f)]));
    const found = cycles(graph).map((scc) => scc.map((f) => relative(ROOT, f)).sort().join(' → '));
    assert.deepEqual(found, [], `import cycles:\n${found.join('\n')}`);
  });

  it(`has no file over ${MAX_LINES} lines`, () => {
    const long = files.map((f) => [relative(ROOT, f), readFileSync(f, 'utf8').split('\n').length - 1] as const).filter(([, n]) => n > MAX_LINES);
    assert.deepEqual(long, [], `split these by role: ${long.map(([f, n]) => `${f} (${n})`).join(', ')}`);
  });

  it('opens every file with a comment saying what it is for', () => {
    const bare = files.filter((f) => !/^(#![^\n]*\n)?\s*(\/\*\*|\/\/)/.test(readFileSync(f, 'utf8'))).map((f) => relative(ROOT, f));
    assert.deepEqual(bare, []);
  });

  it("is mapped by README's \"The parts\", every folder once and nothing else", () => {
    const folders = readdirSync(SRC).filter((name) => statSync(join(SRC, name)).isDirectory()).sort();
    const map = readmeMap();
    assert.deepEqual([...map.keys()].sort(), folders);
    for (const [folder, bullet] of map) {
      for (const [, name] of bullet.matchAll(/`([\w./-]+\.(?:ts|yaml))`/g)) {
        const inFolder = join(SRC, folder, name!);
        const fromRoot = join(ROOT, name!);
        assert.ok(exists(inFolder) || exists(fromRoot), `README's map of src/${folder}/ names ${name}, which does not exist`);
      }
    }
  });
});

function exists(path: string): boolean {
  try { statSync(path); return true; } catch { return false; }
}
