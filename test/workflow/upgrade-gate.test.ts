/**
 * The upgrade gate (docs/deploy.md, "Upgrading workflow code"): a worker rollout
 * replaces the code under runs in flight, so a change to AgentRun that alters the
 * commands an existing history recorded must sit behind `patched()`. This test proves
 * the gate that enforces it catches what it must: a copy of src/workflows with one
 * new command at the start of a run (a timer before the credit reservation) fails
 * to replay a recorded history with a DeterminismViolationError; the same change
 * behind `patched()` replays it cleanly, and so does the unchanged copy (the
 * harness itself changes nothing). replay.test.ts replays every fixture against the
 * real code; this one shows that replaying them is a gate and not a formality.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../src/worker/bundle.ts';
import { workerTracingOptions } from '../../src/worker/tracing.ts';
import { ROOT } from '../helpers/stack.ts';

Runtime.install({ logger: new DefaultLogger('WARN') });

const FIXTURE = 'anthropic-three-steps.json';
const history = historyFromJSON(JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', FIXTURE), 'utf8')));
const ANCHOR = '      await planner.first(await gates.reserve(planner.opening()));\n';

// Inside the repository (git-ignored .data), so the copy resolves @temporalio/* from node_modules.
mkdirSync(join(ROOT, '.data'), { recursive: true });
const scratch = mkdtempSync(join(ROOT, '.data', 'upgrade-gate-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
// Each copy sits one level below scratch, like src/workflows below src, so its ../shared imports resolve.
for (const dir of ['shared', 'activities']) symlinkSync(join(ROOT, 'src', dir), join(scratch, dir));

let copies = 0;
/** A copy of src/workflows with `edit` applied to agent-run.ts, bundled as the worker would. */
async function variant(edit: (source: string) => string) {
  const dir = join(scratch, `workflows-${copies++}`);
  cpSync(join(ROOT, 'src', 'workflows'), dir, { recursive: true });
  const file = join(dir, 'agent-run.ts');
  const source = readFileSync(file, 'utf8');
  assert.ok(source.includes(ANCHOR), 'agent-run.ts still reserves credits first (update ANCHOR if that moved)');
  writeFileSync(file, edit(source));
  // As the worker's bundle (bundle.ts): the OpenTelemetry workflow interceptors included.
  return bundleWorkflowCode({ workflowsPath: join(dir, 'index.ts'), workflowInterceptorModules: WORKFLOW_BUNDLE_OPTIONS.workflowInterceptorModules, logger: new DefaultLogger('WARN') });
}

const withImport = (source: string, names: string) => source.replace("import {\n  allHandlersFinished,", `import {\n  ${names}, allHandlersFinished,`);

describe('the upgrade gate: replaying recorded histories against changed workflow code', () => {
  it('passes the unchanged code (the harness alters nothing)', async () => {
    const bundle = await variant((s) => s);
    await Worker.runReplayHistory({ workflowBundle: bundle, ...(await workerTracingOptions(undefined)) }, history, FIXTURE);
  });

  it('fails a change that adds a command without patched(): DeterminismViolationError names the mismatch', async () => {
    const bundle = await variant((s) => withImport(s, 'sleep').replace(ANCHOR, `      await sleep(1);\n${ANCHOR}`));
    await assert.rejects(Worker.runReplayHistory({ workflowBundle: bundle, ...(await workerTracingOptions(undefined)) }, history, FIXTURE), (err: Error) => {
      assert.ok(err instanceof DeterminismViolationError, `${err.name}: ${err.message}`);
      assert.match(err.message, /nondetermin|timer|activity/i);
      return true;
    });
  });

  it('passes the same change behind patched(): runs recorded before it keep the old path', async () => {
    const bundle = await variant((s) => withImport(s, 'sleep').replace(ANCHOR, `      if (patched('upgrade-gate-probe')) await sleep(1);\n${ANCHOR}`));
    await Worker.runReplayHistory({ workflowBundle: bundle, ...(await workerTracingOptions(undefined)) }, history, FIXTURE);
  });
});
