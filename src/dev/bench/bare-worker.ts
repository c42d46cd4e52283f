/**
 * The baseline's worker, a process of its own like agentrun's: polls BENCH_TASK_QUEUE with
 * bare-workflow.ts and a no-op activity (as many at once as agentrun's worker in the bench);
 * prints `ready` once polling, stops on SIGTERM.
 */
import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';

const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
const taskQueue = process.env.BENCH_TASK_QUEUE;
if (!taskQueue) {
  process.stderr.write('bench bare worker: BENCH_TASK_QUEUE is not set\n');
  process.exit(2);
}
Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: ['SIGINT', 'SIGTERM'] });
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default', taskQueue,
  workflowsPath: fileURLToPath(new URL('./bare-workflow.ts', import.meta.url)),
  activities: { noop: async () => undefined },
  // The same slots as agentrun's worker in the bench (index.ts sets the variable for both).
  maxConcurrentActivityTaskExecutions: Number(process.env.WORKER_MAX_CONCURRENT_ACTIVITIES ?? 100),
});
const running = worker.run();
process.stdout.write('ready\n');
await running;
await connection.close();
