/**
 * Replay: recorded histories of representative runs (test/fixtures/, written by
 * `npm run record-fixtures`) are replayed against the current workflow code, so
 * a change that would break running workflows (non-determinism) fails here.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../helpers/workflow-env.ts';

const dir = new URL('../fixtures/', import.meta.url);
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

describe('replaying recorded histories against the current AgentRun', () => {
  it('has fixtures to replay', () => {
    assert.ok(fixtures.length >= 8, `found ${fixtures.length}`);
  });

  for (const file of fixtures) {
    it(`replays ${file} deterministically`, async () => {
      const history = historyFromJSON(JSON.parse(readFileSync(new URL(file, dir), 'utf8')));
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, file);
    });
  }
});
