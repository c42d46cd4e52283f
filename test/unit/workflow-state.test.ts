/**
 * AgentRun's state (src/workflows/state.ts): what one execution carries to the
 * next is exactly the carried fields under their wire names, read back whole; a
 * carry written by older code (a field missing) starts that field at its starting
 * value; what lasts one execution starts fresh. Pure: no Temporal needed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fromCarry, noteRecordEpoch, toCarry } from '../../src/workflows/state.ts';
import type { RunInput } from '../../src/shared/run.ts';
import { DIRECT_ACTOR } from '../../src/workflows/definitions.ts';

const runInput = (o: Partial<RunInput> = {}): RunInput => ({
  runId: 'run_0123456789abcdefghijklmnop', userId: 'u1', prompt: 'p', creditReservation: 100, provider: 'offline', requireApproval: false, priority: 3,
  limits: { maxIterations: 50, activationTimeoutMs: 600_000, approvalTimeoutMs: 3_600_000, humanReplyTimeoutMs: 3_600_000, approvalTools: [] },
  ...o,
});

/** The carry the run in test/fixtures/pre-local-continue-as-new-2.json started from (written by the AgentRun of before the state had a type). */
function recordedCarry(): Record<string, unknown> {
  const history = JSON.parse(readFileSync(new URL('../fixtures/pre-local-continue-as-new-2.json', import.meta.url), 'utf8')) as {
    events: { workflowExecutionStartedEventAttributes?: { input: { payloads: { data: string }[] } } }[];
  };
  const payload = history.events[0]!.workflowExecutionStartedEventAttributes!.input.payloads[0]!.data;
  return (JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as { carry: Record<string, unknown> }).carry;
}

describe('AgentRun state across continue-as-new', () => {
  it('a new run starts queued, at the first step, with nothing charged and the clock started now', () => {
    const input = runInput();
    const s = fromCarry(input, 1234);
    assert.deepEqual(s.state, { runId: input.runId, userId: 'u1', status: 'queued', steps: [], creditsCharged: 0, creditsReserved: 0, iterations: 0, completedSteps: 0 });
    assert.deepEqual([s.nextIndex, s.seq, s.llmCalls, s.approvals, s.waitedMs, s.startedAtMs, s.messages, s.plan], [0, 0, 0, 0, 0, 1234, [], undefined]);
    assert.equal(s.reserved, false, 'a new run has not reserved yet');
  });

  it('reads a carry recorded by the earlier code whole, and writes it back under the same names', () => {
    const carry = recordedCarry();
    const s = fromCarry(runInput({ carry }), 99);
    assert.equal(s.startedAtMs, carry.startedAtMs, 'the clock of the first execution goes on');
    assert.deepEqual(s.messages, ['keep it short']);
    assert.equal(s.approvals, 1);
    assert.deepEqual(toCarry(s), carry);
    assert.deepEqual(Object.keys(toCarry(s)), Object.keys(carry), 'same fields, same order');
  });

  it('what lasts one execution starts fresh in a continued run: not paused, nothing pending, the reservation already taken', () => {
    const s = fromCarry(runInput({ carry: recordedCarry() }), 0);
    assert.deepEqual([s.reserved, s.paused, s.pausedBy, s.resumedBy, s.stepsThisExecution, s.directMessages, s.pendingApproval, s.openHold],
      [true, false, DIRECT_ACTOR, DIRECT_ACTOR, 0, [], undefined, undefined]);
    assert.ok(!('reserved' in toCarry(s)) && !('openHold' in toCarry(s)), 'per-execution fields are not carried');
  });

  it('a carry written before a field existed gets that field\'s starting value', () => {
    const { approvals: _approvals, waitedMs: _waitedMs, ...older } = recordedCarry();
    const s = fromCarry(runInput({ carry: older }), 0);
    assert.equal(s.approvals, 0);
    assert.equal(s.waitedMs, 0);
    assert.deepEqual(s.messages, ['keep it short']);
  });

  it('notes where each epoch\'s step records begin, carries it, and keeps the epoch out of the results it shows', () => {
    const s = fromCarry(runInput(), 0);
    const step = (index: number, epoch?: string) => ({ index, tool: 'write_file' as const, ok: true, summary: '', durationMs: 1, ...(epoch ? { epoch } : {}) });
    assert.deepEqual(noteRecordEpoch(s.state, step(0)), step(0));
    assert.equal(s.state.recordEpochs, undefined, 'a run never reset notes nothing');
    assert.deepEqual(noteRecordEpoch(s.state, step(1, 'e1')), step(1), 'the epoch stays out of the shown result');
    noteRecordEpoch(s.state, step(2, 'e1'));
    noteRecordEpoch(s.state, step(3));
    noteRecordEpoch(s.state, step(4, 'e2'));
    assert.deepEqual(s.state.recordEpochs, [[1, 'e1'], [3, null], [4, 'e2']]);
    assert.deepEqual(fromCarry(runInput({ carry: toCarry(s) }), 0).state.recordEpochs, s.state.recordEpochs, 'carried across continue-as-new');
  });
});
