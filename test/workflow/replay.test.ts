/**
 * Replay: recorded histories of representative runs (test/fixtures/, written by
 * `npm run record-fixtures`) are replayed against the current workflow code, so
 * a change that would break running workflows (non-determinism) fails here.
 * continue-as-new-1.json and -2.json are two executions of one run: the first
 * ends in ContinuedAsNew, the second starts from the carry it wrote, so the
 * carry's wire shape stays readable by the current code.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { workerTracingOptions } from '../../src/worker/tracing.ts';
import { workflowBundle } from '../helpers/workflow-env.ts';

const dir = new URL('../fixtures/', import.meta.url);
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

describe('replaying recorded histories against the current AgentRun', () => {
  it('has fixtures to replay', () => {
    assert.ok(fixtures.length >= 8, `found ${fixtures.length}`);
  });

  it('replays both executions of a run that continued as new, the second started from the first one\'s carry', async () => {
    const [first, second] = ['continue-as-new-1.json', 'continue-as-new-2.json'].map((f) => historyFromJSON(JSON.parse(readFileSync(new URL(f, dir), 'utf8'))));
    const continued = first!.events!.at(-1)!.workflowExecutionContinuedAsNewEventAttributes;
    const started = second!.events![0]!.workflowExecutionStartedEventAttributes;
    assert.ok(continued?.newExecutionRunId, 'the first execution ends in ContinuedAsNew');
    assert.equal(started?.continuedExecutionRunId, first!.events![0]!.workflowExecutionStartedEventAttributes?.originalExecutionRunId);
    assert.equal(started?.originalExecutionRunId, continued.newExecutionRunId);
    const carried = JSON.parse(Buffer.from(started.input!.payloads![0]!.data!).toString('utf8')) as { carry?: Record<string, unknown> };
    assert.deepEqual(Object.keys(carried.carry ?? {}).sort(), ['approvals', 'llmCalls', 'messages', 'nextIndex', 'plan', 'seq', 'startedAtMs', 'state', 'waitedMs']);
    const bundle = await workflowBundle();
    for (const [i, history] of [first!, second!].entries()) {
      await Worker.runReplayHistory({ workflowBundle: bundle, ...(await workerTracingOptions(undefined)) }, history, `continue-as-new-${i + 1}`);
    }
  });

  // One replay worker for every fixture (a worker each took about 0.4 s); each fixture still its own test.
  const results = new Map<string, Error | undefined>();
  before(async () => {
    const histories = fixtures.map((file) => ({ workflowId: file, history: historyFromJSON(JSON.parse(readFileSync(new URL(file, dir), 'utf8'))) }));
    for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle(), ...(await workerTracingOptions(undefined)) }, histories)) {
      results.set(r.workflowId, r.error);
    }
  });
  for (const file of fixtures) {
    it(`replays ${file} deterministically`, () => {
      assert.ok(results.has(file), `${file} was not replayed`);
      const error = results.get(file);
      if (error) throw error;
    });
  }
});
