/**
 * The workflow's modules are initialised again for every execution (the worker's reusable
 * V8 context keeps each run's module state apart), so what they import at run time is paid
 * per run: zod and OpenTelemetry (~130 modules) were most of a short run's workflow CPU.
 * This walks the value imports (not `import type`) from the bundle's entry modules and
 * checks neither is reached; OpenTelemetry is required lazily by tracing.ts, for traced runs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRIES = ['src/workflows/index.ts', 'src/workflows/tracing.ts'].map((f) => resolve(ROOT, f));
const HEAVY = /^(zod|@opentelemetry\/|@temporalio\/interceptors-opentelemetry)/;

/** The specifiers a module imports or re-exports for its values. */
function valueImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const out: string[] = [];
  for (const s of source.statements) {
    if (ts.isImportDeclaration(s)) {
      const clause = s.importClause;
      const typeOnly = clause !== undefined && (clause.isTypeOnly || (!clause.name && clause.namedBindings !== undefined
        && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) out.push((s.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isExportDeclaration(s) && s.moduleSpecifier && !s.isTypeOnly) {
      out.push((s.moduleSpecifier as ts.StringLiteral).text);
    }
  }
  return out;
}

describe('the workflow bundle', () => {
  it('reaches neither zod nor OpenTelemetry through value imports', () => {
    const seen = new Set<string>();
    const heavy: string[] = [];
    const visit = (file: string, via: string[]) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of valueImports(file)) {
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec), [...via, relative(ROOT, file)]);
        else if (HEAVY.test(spec)) heavy.push(`${[...via, relative(ROOT, file)].join(' → ')} → ${spec}`);
      }
    };
    for (const entry of ENTRIES) visit(entry, []);
    assert.ok(seen.size > 10, `walked ${seen.size} modules`);
    assert.deepEqual(heavy, [], 'each of these is initialised for every run');
  });
});
