/**
 * The `runStep` activity: executes one plan step at most once in effect.
 * A step's result record in the workspace marks it done; a retried activity
 * (after a worker crash, say) that finds the record returns it instead of
 * running the tool again. Events use deterministic keys, so replays of the
 * activity never duplicate them on the run's stream.
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { ActivityDeps } from './deps.ts';
import { readFile, writeFile } from './tools/files.ts';
import { runShell } from './tools/shell.ts';
import { isNotFound } from '../infra/s3.ts';
import { s3Keys } from '../shared/names.ts';
import type { PlanStep, RunEvent, StepResult } from '../shared/run.ts';

export interface RunStepInput {
  runId: string;
  userId: string;
  index: number;
  step: PlanStep;
}

const LOG_FLUSH_MS = 100;
const LOG_BATCH_MAX = 200;
const HEARTBEAT_MS = 1000;

async function loadRecord(deps: ActivityDeps, key: string): Promise<StepResult | undefined> {
  try {
    const res = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key }));
    return JSON.parse((await res.Body?.transformToString('utf8')) ?? 'null') as StepResult;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

function describeStep(step: PlanStep): Record<string, unknown> {
  switch (step.tool) {
    case 'write_file': return { path: step.path, bytes: Buffer.byteLength(step.content) };
    case 'read_file': return { path: step.path };
    case 'shell': return { argv: step.argv };
  }
}

export async function runStep(deps: ActivityDeps, input: RunStepInput): Promise<StepResult> {
  const { runId, userId, index, step } = input;
  const recordKey = s3Keys.stepRecord(userId, runId, index);
  const stepEvent = (phase: string, extra: Record<string, unknown> = {}): RunEvent => ({
    key: `step:${index}:${phase}`, type: 'step', data: { index, tool: step.tool, phase, ...extra },
  });

  const ctx = Context.current();
  const record = (status: 'running' | 'completed' | 'failed', r?: StepResult) => deps.store.recordStep({
    runId, index, userId, tool: step.tool, input: describeStep(step), status, attempt: ctx.info.attempt,
    outputSummary: r?.summary, durationMs: r?.durationMs,
  });

  const done = await loadRecord(deps, recordKey);
  if (done) {
    await record(done.ok ? 'completed' : 'failed', done);
    await deps.events.append(runId, [stepEvent('completed', { ok: done.ok, summary: done.summary })]);
    return done;
  }

  await record('running');
  await deps.events.append(runId, [stepEvent('started', describeStep(step))]);
  const started = performance.now();
  let result: StepResult;
  try {
    result = await executeTool(deps, input, ctx);
  } catch (err) {
    // A refusal (bad path, missing file) ends the step for good: record it as failed.
    if (err instanceof ApplicationFailure && err.nonRetryable) {
      await record('failed', { index, tool: step.tool, ok: false, summary: err.message, durationMs: Math.round(performance.now() - started) });
    }
    throw err;
  }
  result.durationMs = Math.round(performance.now() - started);
  await deps.s3.send(new PutObjectCommand({
    Bucket: deps.bucket, Key: recordKey, Body: JSON.stringify(result), ContentType: 'application/json',
  }));
  await record(result.ok ? 'completed' : 'failed', result);
  await deps.events.append(runId, [stepEvent('completed', { ok: result.ok, summary: result.summary, exitCode: result.exitCode })]);
  return result;
}

async function executeTool(deps: ActivityDeps, input: RunStepInput, ctx: Context): Promise<StepResult> {
  const { runId, userId, index, step } = input;
  switch (step.tool) {
    case 'write_file': {
      const r = await writeFile(deps, { userId, runId, path: step.path }, step.content);
      return { index, tool: step.tool, ok: true, summary: `wrote ${r.bytes} bytes to ${step.path}`, durationMs: 0 };
    }
    case 'read_file': {
      const r = await readFile(deps, { userId, runId, path: step.path });
      await deps.events.append(runId, [{ key: `step:${index}:content`, type: 'log', data: { index, stream: 'file', path: step.path, text: r.preview, bytes: r.bytes } }]);
      return { index, tool: step.tool, ok: true, summary: `read ${r.bytes} bytes from ${step.path}`, durationMs: 0 };
    }
    case 'shell': {
      return runShellStep(deps, input, step.argv, step.timeoutMs ?? deps.tools.shellTimeoutMs, ctx);
    }
  }
}

async function runShellStep(
  deps: ActivityDeps, input: RunStepInput, argv: string[], timeoutMs: number, ctx: Context,
): Promise<StepResult> {
  const { runId, index } = input;
  const attempt = ctx.info.attempt;
  // Output lines of this attempt, appended in small batches; keys carry the attempt,
  // because a new attempt is a new execution whose output is new.
  let pending: RunEvent[] = [];
  let lineNo = 0;
  let flushing: Promise<unknown> = Promise.resolve();
  const flush = () => {
    if (pending.length === 0) return flushing;
    const batch = pending;
    pending = [];
    flushing = flushing.then(() => deps.events.append(runId, batch));
    return flushing;
  };
  const flushTimer = setInterval(() => { void flush().catch((e: unknown) => deps.log.warn({ err: e }, 'log flush failed')); }, LOG_FLUSH_MS);
  const beat = setInterval(() => ctx.heartbeat({ lines: lineNo }), HEARTBEAT_MS);
  try {
    const r = await runShell({
      argv, timeoutMs, outputMaxBytes: deps.tools.outputMaxBytes, signal: ctx.cancellationSignal,
      onLine: (stream, text) => {
        lineNo += 1;
        pending.push({ key: `step:${index}:a${attempt}:line:${lineNo}`, type: 'log', data: { index, stream, text } });
        if (pending.length >= LOG_BATCH_MAX) void flush();
      },
    });
    clearInterval(flushTimer);
    await flush();
    if (r.cancelled) throw ctx.cancellationSignal.reason ?? new CancelledFailure('shell step cancelled');
    const ok = !r.timedOut && r.exitCode === 0;
    const why = r.spawnError ? `could not start ${argv[0]}: ${r.spawnError}`
      : r.timedOut ? `timed out after ${timeoutMs} ms`
      : `exit code ${r.exitCode ?? `signal ${r.signal}`}`;
    return { index, tool: 'shell', ok, summary: `${argv[0]}: ${why}${r.truncated ? ' (output truncated)' : ''}`, exitCode: r.exitCode ?? undefined, durationMs: r.durationMs };
  } finally {
    clearInterval(flushTimer);
    clearInterval(beat);
  }
}
