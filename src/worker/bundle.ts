/**
 * The workflow bundle: `node src/worker/bundle.ts <out.js>` bundles src/workflows once
 * (the Dockerfile does it at image build time) so a worker given WORKFLOW_BUNDLE_PATH
 * starts without running webpack; without it the worker bundles the same at start.
 * One bundle whether tracing is on or off: it always holds the tracing interceptors
 * (src/workflows/tracing.ts: OpenTelemetry's, for runs started with a trace context), whose
 * spans leave the workflow only through the worker's `exporter` sink (a no-op while tracing
 * is off). They add a header to each command, never a command.
 * The bundle's hash names the workflow code: the build id a worker reports by default.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import type { BundleOptions } from '@temporalio/worker';

/** The workflows' entry module, the one the worker registers. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** What goes into the bundle: the workflows and their tracing interceptors. */
export const WORKFLOW_BUNDLE_OPTIONS: Pick<BundleOptions, 'workflowsPath' | 'workflowInterceptorModules'> = {
  workflowsPath: WORKFLOWS_PATH,
  workflowInterceptorModules: [fileURLToPath(new URL('../workflows/tracing.ts', import.meta.url))],
};

/** The bundle's code (JavaScript with an inline source map). */
export async function bundleWorkflows(): Promise<string> {
  const { code } = await bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS, logger: new DefaultLogger('WARN') });
  return code;
}

/** The workflow code the worker runs: the prebuilt bundle at `path`, else src/workflows bundled now. */
export async function loadWorkflowBundle(path: string | undefined): Promise<string> {
  return path ? readFileSync(path, 'utf8') : bundleWorkflows();
}

/** The default build id: `wf-` and 12 hex digits of the bundle's SHA-256 (the same workflow code, the same id). */
export const bundleBuildId = (code: string) => `wf-${createHash('sha256').update(code).digest('hex').slice(0, 12)}`;

/** Bundles the workflows into `outFile`; returns its size in bytes. */
export async function writeWorkflowBundle(outFile: string): Promise<number> {
  const code = await bundleWorkflows();
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
