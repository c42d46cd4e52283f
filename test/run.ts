/**
 * `npm test` (what `./dev test` runs): the type-check and lint side by side with every test
 * file, the slowest files started first so none is left running alone at the end, N files
 * at a time (`--concurrency N`, default 4: the suite waits on Temporal, Redis and child
 * processes about as much as it computes, on 2 cores). The workflows are bundled once, here, for every worker
 * the tests start (AGENTRUN_TEST_WORKFLOW_BUNDLE, test/helpers/stack.ts). File names as
 * arguments run those files only. Exits non-zero when a test, the type-check or the lint fails.
 */
import { spawn } from 'node:child_process';
import { existsSync, globSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Transform } from 'node:stream';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { fileURLToPath } from 'node:url';
import { stackPaths } from '../src/dev/context.ts';
import { writeWorkflowBundle } from '../src/worker/bundle.ts';
import { inputsDigest, notePassed, passedOn } from './helpers/check-cache.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Started first, longest first (measured per file with `./dev test`; README, "Tests"): a long
 * file started last would run alone while the other slots sit idle. A name that no longer
 * exists is skipped; a new slow file belongs here.
 */
const SLOWEST_FIRST = [
  'test/integration/kubernetes.test.ts',
  'test/e2e/backup-restore.test.ts',
  'test/e2e/flood.test.ts',
  'test/e2e/long-run.test.ts',
  'test/e2e/sse.test.ts',
  'test/e2e/credits.test.ts',
  'test/e2e/cli.test.ts',
  'test/e2e/many-workers.test.ts',
  'test/e2e/worker.test.ts',
  'test/workflow/agent-run.test.ts',
  'test/e2e/web.test.ts',
  'test/e2e/compose.test.ts',
  'test/e2e/breaker.test.ts',
  'test/e2e/mcp-kube.test.ts',
  'test/e2e/sandbox-attacks.test.ts',
  'test/e2e/pay-before-run.test.ts',
  'test/e2e/browser.test.ts',
  'test/e2e/web-search.test.ts',
  'test/e2e/run-repair.test.ts',
  'test/e2e/tracing.test.ts',
  'test/e2e/boot.test.ts',
  'test/e2e/fetch-url-limits.test.ts',
  'test/e2e/mcp-failures.test.ts',
  'test/e2e/web-controls.test.ts',
  'test/e2e/web-credits.test.ts',
  'test/workflow/replay.test.ts',
  'test/integration/store-schema-boot.test.ts',
  'test/e2e/browser-kube.test.ts',
  'test/e2e/images.test.ts',
  'test/e2e/mcp.test.ts',
  'test/e2e/run-endpoints.test.ts',
  'test/integration/workspace-files.test.ts',
  'test/e2e/cli-run.test.ts',
  'test/e2e/redis-authority.test.ts',
  'test/e2e/api-auth.test.ts',
  'test/e2e/api-shutdown.test.ts',
];

/** How long the run may go without any test reporting before it is stopped as hung, naming the files still running. */
const IDLE_LIMIT_MS = 10 * 60_000;

function parseArgs(argv: string[]): { concurrency: number; files: string[] } {
  let concurrency = 4;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--concurrency') concurrency = Number(argv[++i]);
    else if (a.startsWith('--concurrency=')) concurrency = Number(a.slice('--concurrency='.length));
    else files.push(relative(ROOT, join(process.cwd(), a)));
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`--concurrency takes a positive integer, not ${concurrency}`);
  return { concurrency, files };
}

/** Every test file, SLOWEST_FIRST's first, then the rest in name order. */
export function orderedFiles(only: string[]): string[] {
  const all = (only.length ? only : globSync('test/**/*.test.ts', { cwd: ROOT })).sort();
  const first = SLOWEST_FIRST.filter((f) => all.includes(f) && existsSync(join(ROOT, f)));
  return [...first, ...all.filter((f) => !first.includes(f))];
}

/**
 * A check (type-check, lint) as a child process; resolves to whether it passed, after printing
 * its output when it failed. Skipped when it passed before on the same inputs (`cache`: ./helpers/check-cache.ts).
 */
function check(name: string, cmd: string, args: string[], cache: { dir: string; key: string; digest: string }): Promise<boolean> {
  const started = Date.now();
  if (passedOn(cache.dir, cache.key, cache.digest)) {
    process.stdout.write(`✔ ${name} (skipped: passed before on these very files)\n`);
    return Promise.resolve(true);
  }
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('error', (err) => { process.stdout.write(`✖ ${name}: ${err.message}\n`); resolve(false); });
    child.once('close', (code) => {
      const took = `${Math.round((Date.now() - started) / 1000)} s`;
      process.stdout.write(code === 0 ? `✔ ${name} (${took})\n` : `✖ ${name} failed (${took}):\n${out}\n`);
      // Noted only when the files are still those it was given (none edited while it ran).
      if (code === 0 && inputsDigest(ROOT) === cache.digest) notePassed(cache.dir, cache.key, cache.digest);
      resolve(code === 0);
    });
  });
}

if (import.meta.main) {
  const { concurrency, files } = parseArgs(process.argv.slice(2));
  const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name);
  const cacheDir = join(stackPaths(process.env).data, 'cache');
  const digest = inputsDigest(ROOT);
  // tsc keeps what it learnt of the unchanged files (--incremental): a run after an edit re-checks less.
  const checks = Promise.all([
    check('type-check (tsc --noEmit)', bin('tsc'), ['--noEmit', '-p', 'tsconfig.json', '--incremental', '--tsBuildInfoFile', join(cacheDir, 'tsc.tsbuildinfo')], { dir: cacheDir, key: 'tsc', digest }),
    check('lint (eslint)', bin('eslint'), ['--max-warnings=0', 'src', 'test'], { dir: cacheDir, key: 'eslint', digest }),
  ]);
  // The workers' bundle is built before the first file starts (a test file may start a worker at once).
  const bundle = join(stackPaths(process.env).data, 'test', 'workflow-bundle.js');
  await writeWorkflowBundle(bundle);
  process.env.AGENTRUN_TEST_WORKFLOW_BUNDLE = bundle;
  // Every test file and the processes it starts keep their compiled modules (./dev sets it too).
  process.env.NODE_COMPILE_CACHE ??= join(stackPaths(process.env).data, 'cache', 'node-compile');
  const count = { passed: 0, failed: 0, skipped: 0 };
  const durations: [file: string, ms: number][] = [];
  // No forceExit: it let a file's process exit before its last results reached this one, and
  // tests went missing without a failure (203 → 198 in one of four runs of test/unit). A file
  // that never ends is caught by the watchdog below instead.
  const ordered = orderedFiles(files);
  const stream = run({ files: ordered.map((f) => join(ROOT, f)), concurrency, timeout: 300_000 });
  let lastEventAt = Date.now();
  stream.on('data', () => { lastEventAt = Date.now(); });
  const watchdog = setInterval(() => {
    if (Date.now() - lastEventAt < IDLE_LIMIT_MS) return;
    const done = new Set(durations.map(([f]) => f));
    process.stdout.write(`✖ no test has reported for ${IDLE_LIMIT_MS / 60_000} minutes; still running: ${ordered.filter((f) => !done.has(f)).join(', ')}\n`);
    process.exit(1);
  }, 10_000);
  watchdog.unref();
  stream.on('test:pass', (d) => { if (d.details.type !== 'suite') count[d.skip || d.todo ? 'skipped' : 'passed']++; });
  stream.on('test:fail', (d) => { if (!d.todo && d.details.type !== 'suite') count.failed++; });
  stream.on('test:summary', (d) => { if (d.file) durations.push([relative(ROOT, d.file), d.duration_ms]); });
  const reported = new Promise<void>((resolve) => {
    const reporter = new (spec as new () => Transform)();
    reporter.on('end', resolve);
    stream.pipe(reporter).pipe(process.stdout, { end: false });
  });
  const [passed] = await Promise.all([checks, reported]);
  clearInterval(watchdog);
  // Every file must have said it ended: results lost on the way would otherwise pass unseen.
  const ended = new Set(durations.map(([f]) => f));
  const unended = ordered.filter((f) => !ended.has(f));
  for (const f of unended) process.stdout.write(`✖ ${f} never reported its end: its results are incomplete\n`);
  // Each file's time in its own process (imports excluded), slowest first: what SLOWEST_FIRST follows.
  durations.sort((a, b) => b[1] - a[1]);
  const table = durations.map(([f, ms]) => `${(ms / 1000).toFixed(1).padStart(7)} s  ${f}`).join('\n');
  const file = join(stackPaths(process.env).data, 'test', 'durations.txt');
  writeFileSync(file, `${table}\n`);
  process.stdout.write(`slowest files (all in ${relative(ROOT, file)}):\n${table.split('\n').slice(0, 8).join('\n')}\n`);
  process.stdout.write(`tests: ${count.passed} passed, ${count.failed} failed, ${count.skipped} skipped\n`);
  process.exitCode = count.failed > 0 || unended.length > 0 || !passed.every(Boolean) ? 1 : 0;
}
