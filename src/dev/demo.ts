/**
 * `./dev demo`: with the stack up, starts a worker and the API on a task queue of
 * their own, performs a demo agent run over HTTP and streams its log (SSE) to the end.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freeLoopbackPort } from '../infra/free-port.ts';
import { ROOT, type StackContext } from './context.ts';
import { stackEnv } from './env-file.ts';
import { startNode, StackError, stopChildren } from './proc.ts';
import { readSse } from '../client/sse.ts';

const say = (msg: string) => process.stdout.write(`${msg}\n`);

const DEMO_PROMPT = [
  'Demo: write a file, run a command, read the file back.',
  'write_file hello.txt Hello from agentrun!\\nThis file lives in the run\'s S3 workspace.',
  'shell echo "durable agent runs on Temporal"',
  'shell uname -sr',
  'read_file hello.txt',
].join('\n');

/** Runs the demo against a stack that is up; throws StackError unless the run completes. */
export async function demo(ctx: StackContext): Promise<void> {
  const port = await freeLoopbackPort();
  const logs = (name: string) => join(ctx.paths.logs, `demo-${name}.log`);
  const stack = await stackEnv(ctx);
  const env = { ...ctx.env, ...stack, API_PORT: String(port), TEMPORAL_TASK_QUEUE: ctx.env.TEMPORAL_TASK_QUEUE ?? 'agentrun-demo' };
  const worker = startNode(join(ROOT, 'src/worker/main.ts'), env, logs('worker'));
  const api = startNode(join(ROOT, 'src/api/main.ts'), env, logs('api'));
  const exited = (name: string, p: ChildProcess) => new Promise<never>((_, reject) =>
    p.once('exit', (code) => reject(new StackError(`the ${name} exited with code ${code}; see ${logs(name)}`))));
  const failFast = Promise.race([exited('worker', worker), exited('api', api)]);
  failFast.catch(() => undefined);
  try {
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    while (!(await fetch(`${base}/healthz`).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline) throw new StackError(`the API did not come up; see ${logs('api')}`);
      await Promise.race([sleep(200), failFast]);
    }
    say(`\nPOST ${base}/v1/runs`);
    const res = await fetch(`${base}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: DEMO_PROMPT }) });
    const created = (await res.json()) as { id: string };
    say(`${res.status} ${JSON.stringify(created)}\n`);
    say(`streaming ${base}/v1/runs/${created.id}/events`);
    const stream = (async () => {
      for await (const m of readSse(`${base}/v1/runs/${created.id}/events`)) say(`  ${m.id ?? '-'}  ${m.event.padEnd(6)} ${m.data}`);
    })();
    await Promise.race([stream, failFast]);
    const final = (await (await fetch(`${base}/v1/runs/${created.id}`)).json()) as { status: string };
    say(`\nrun ${created.id} ${final.status}`);
    say(`Temporal Web UI: ${stack.TEMPORAL_UI_URL}/namespaces/default/workflows/${created.id}`);
    if (final.status !== 'completed') throw new StackError(`demo run ended ${final.status}`);
  } finally {
    await stopChildren([api, worker]);
  }
}
