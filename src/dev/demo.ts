/**
 * `./dev demo`: with the stack up, (re)starts a worker and the API on the local API port
 * (detached: pid files demo-worker.pid and demo-api.pid, logs demo-*.log), performs a demo
 * agent run through the public API (src/client) and streams its log (SSE) to the end, then
 * leaves both running for the web page and the CLI and says where they are. `./dev down`
 * stops them; the next `./dev demo` starts them afresh (the code may have changed).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../client/api.ts';
import { readSse } from '../client/sse.ts';
import { ROOT, type StackContext } from './context.ts';
import { stackEnv } from './env-file.ts';
import { readPid, StackError, startDetached, stopPid } from './proc.ts';
import { pidFile } from './services/service.ts';

const say = (msg: string) => process.stdout.write(`${msg}\n`);

const DEMO_PROMPT = [
  'Demo: write a file, run a command, read the file back.',
  'write_file hello.txt Hello from agentrun!\\nThis file lives in the run\'s S3 workspace.',
  'shell echo "durable agent runs on Temporal"',
  'shell uname -sr',
  'read_file hello.txt',
].join('\n');

const PARTS = ['worker', 'api'] as const;
const demoPid = (ctx: StackContext, part: string) => pidFile(ctx, `demo-${part}`);
const demoLog = (ctx: StackContext, part: string) => join(ctx.paths.logs, `demo-${part}.log`);

/** Stops the worker and API a demo left running; which of them were running. */
export async function stopDemo(ctx: StackContext): Promise<{ part: string; stopped: boolean }[]> {
  return Promise.all(PARTS.map(async (part) => ({ part, stopped: await stopPid(demoPid(ctx, part)) })));
}

/** The URL of the API a demo left running, if it still runs. */
export function demoApi(ctx: StackContext): string | undefined {
  return readPid(demoPid(ctx, 'api')) ? `http://127.0.0.1:${ctx.ports.api}` : undefined;
}

/** Runs the demo against a stack that is up; throws StackError unless the run completes. */
export async function demo(ctx: StackContext): Promise<void> {
  await stopDemo(ctx);
  const stack = await stackEnv(ctx);
  const env = { ...ctx.env, ...stack, API_PORT: String(ctx.ports.api), TEMPORAL_TASK_QUEUE: ctx.env.TEMPORAL_TASK_QUEUE ?? 'agentrun-demo' };
  for (const part of PARTS) {
    startDetached(process.execPath, [join(ROOT, `src/${part}/main.ts`)], { logFile: demoLog(ctx, part), pidFile: demoPid(ctx, part), env, cwd: ROOT });
  }
  const base = `http://127.0.0.1:${ctx.ports.api}`;
  const deadline = Date.now() + 60_000;
  while (!(await fetch(`${base}/healthz`).then((r) => r.ok, () => false))) {
    for (const part of PARTS) if (!readPid(demoPid(ctx, part))) throw new StackError(`the demo ${part} exited; see ${demoLog(ctx, part)}`);
    if (Date.now() > deadline) throw new StackError(`the API did not come up on ${base}; see ${demoLog(ctx, 'api')}`);
    await sleep(200);
  }
  const client = new ApiClient(base);
  say(`\nPOST ${base}/v1/runs`);
  const created = await client.startRun({ prompt: DEMO_PROMPT });
  say(`202 ${JSON.stringify(created)}\n`);
  say(`streaming ${base}/v1/runs/${created.id}/events`);
  for await (const m of readSse(`${base}/v1/runs/${created.id}/events`)) say(`  ${m.id ?? '-'}  ${m.event.padEnd(6)} ${m.data}`);
  const final = await client.getRun(created.id);
  say(`\nrun ${created.id} ${final.status}`);
  say(`  on the web page:   ${base}/#/runs/${created.id}`);
  say(`  from a terminal:   npx agentrun logs ${created.id} --follow${ctx.ports.api === 18080 ? '' : ` --url ${base}`}`);
  say(`  Temporal Web UI:   ${stack.TEMPORAL_UI_URL}/namespaces/default/workflows/${created.id}`);
  say(`The API (${base}) and a worker keep running for the page and the CLI; ./dev down stops them.`);
  if (final.status !== 'completed') throw new StackError(`demo run ended ${final.status}`);
}
