/**
 * Who polls the task queue the API starts runs on, as Temporal sees it (DescribeTaskQueue):
 * the workflow and activity pollers seen in the last minutes. A worker that reports
 * itself polling but on another queue or namespace — the seeds' worker that never
 * dequeued — shows here as 0.
 */
import type { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { temporal as api } from '@temporalio/proto';

// A CommonJS module whose exports Node cannot name statically: taken from its default export.
const { temporal } = proto;

export interface QueuePollers { workflow: number; activity: number }

export async function taskQueuePollers(connection: Connection, namespace: string, taskQueue: string): Promise<QueuePollers> {
  const describe = async (taskQueueType: api.api.enums.v1.TaskQueueType) => {
    const r = await connection.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL }, taskQueueType });
    return r.pollers?.length ?? 0;
  };
  const [workflow, activity] = await Promise.all([
    describe(temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
    describe(temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
  ]);
  return { workflow, activity };
}
