/**
 * The workflow bundle: `node src/worker/bundle.ts <out.js>` bundles src/workflows once
 * (the Dockerfile does it at image build time) so a worker given WORKFLOW_BUNDLE_PATH
 * starts without running webpack; without it the worker bundles WORKFLOWS_PATH itself.
 * The bundle's hash names the workflow code: the build id a worker reports by default.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

/** The workflows' entry module, the one the worker registers. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** The workflow code the worker runs: the prebuilt bundle at `path`, else src/workflows bundled now. */
export async function loadWorkflowBundle(path: string | undefined): Promise<string> {
  if (path) return readFileSync(path, 'utf8');
  return (await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') })).code;
}

/** The default build id: `wf-` and 12 hex digits of the bundle's SHA-256 (the same workflow code, the same id). */
export const bundleBuildId = (code: string) => `wf-${createHash('sha256').update(code).digest('hex').slice(0, 12)}`;

/** Bundles the workflows into `outFile` (JavaScript with an inline source map); returns its size in bytes. */
export async function writeWorkflowBundle(outFile: string): Promise<number> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
  mkdirSync(dirname(resolve(outFile)), { recursive: true });
  writeFileSync(outFile, code);
  return Buffer.byteLength(code);
}

if (import.meta.main) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: node src/worker/bundle.ts <out.js>\n');
    process.exit(2);
  }
  const bytes = await writeWorkflowBundle(out);
  process.stdout.write(`workflow bundle: ${out} (${bytes} bytes)\n`);
}
