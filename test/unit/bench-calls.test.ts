/** The bench's count of Temporal server calls (src/dev/bench/server-calls.ts): parsed from the server's metrics, per run, compared. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callsPerRun, compareCalls, parseCalls } from '../../src/dev/bench/server-calls.ts';

const METRICS = [
  '# HELP service_requests service_requests counter',
  'service_requests{namespace="default",operation="StartWorkflowExecution",service_name="frontend"} 20',
  'service_requests{namespace="default",operation="StartWorkflowExecution",service_name="history"} 20',
  'persistence_requests{operation="UpdateWorkflowExecution",service_name="history"} 340',
  'visibility_persistence_requests{operation="RecordWorkflowExecutionStarted",visibility_plugin_name="sqlite"} 20',
  'service_latency_bucket{operation="StartWorkflowExecution",le="0.01"} 7',
  'service_requests{service_name="frontend"} 5',
].join('\n');

describe('bench: Temporal calls per run', () => {
  it('reads requests and database calls by operation, summed over services, and nothing else', () => {
    assert.deepEqual([...parseCalls(METRICS)], [
      ['service:StartWorkflowExecution', 40], ['db:UpdateWorkflowExecution', 340], ['db:RecordWorkflowExecutionStarted', 20],
    ]);
  });

  it('divides what grew by the runs, in tenths, most first, leaving out what rounds to nothing', () => {
    const before = new Map([['db:UpdateWorkflowExecution', 100], ['service:PollWorkflowTaskQueue', 10]]);
    const after = new Map([['db:UpdateWorkflowExecution', 780], ['service:PollWorkflowTaskQueue', 11], ['service:StartWorkflowExecution', 82]]);
    assert.deepEqual(callsPerRun(before, after, 40), { 'db:UpdateWorkflowExecution': 17, 'service:StartWorkflowExecution': 2.1 });
  });

  it('names the operations whose counts differ by half a call per run or more', () => {
    const a = { 'service:RespondWorkflowTaskCompleted': 12, 'service:DescribeWorkflowExecution': 2, 'db:UpdateWorkflowExecution': 17, 'db:GetTransferTasks': 3.2 };
    const b = { 'service:RespondWorkflowTaskCompleted': 12, 'db:UpdateWorkflowExecution': 17, 'db:GetTransferTasks': 2.9, 'service:PollWorkflowExecutionHistory': 2 };
    assert.equal(compareCalls(a, b), 'agentrun 14 service, 20 db; bare 14 service, 20 db; differ by (agentrun − bare): service:DescribeWorkflowExecution +2, service:PollWorkflowExecutionHistory -2');
    assert.match(compareCalls(b, b), /no operation differs by 0\.5 or more$/);
  });
});
