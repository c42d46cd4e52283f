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
import { copyFile, readFile, writeFile } from './tools/files.ts';
import { runShell } from './tools/shell.ts';
import { isNotFound } from '../infra/s3.ts';
import { s3Keys } from '../shared/names.ts';
import type { PlanStep, RunEvent, StepResult } from '../shared/run.ts';

export interface RunStepInput {
  runId: string;
  userId: string;
  /** Execution number within the run: the step's identity for records, events and charges. */
  index: number;
  /** Position in the plan. */
  planIndex?: number;
  step: PlanStep;
}

/** Bytes of output kept in the step's record for the supervisor (never in history). */
const OUTPUT_TAIL_BYTES = 4000;

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
    case 'write_file': return { path: step.path, bytes: step.contentRef ? undefined : Buffer.byteLength(step.content) };
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

  const recorded = await loadRecord(deps, recordKey);
  if (recorded) {
    const { outputTail: _tail, ...done } = recorded as StepResult & { outputTail?: string };
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
  if (input.planIndex !== undefined) result.planIndex = input.planIndex;
  const { outputTail, ...forHistory } = result as StepResult & { outputTail?: string };
  result = forHistory;
  await deps.s3.send(new PutObjectCommand({
    Bucket: deps.bucket, Key: recordKey, Body: JSON.stringify({ ...result, outputTail }), ContentType: 'application/json',
  }));
  await record(result.ok ? 'completed' : 'failed', result);
  await deps.events.append(runId, [stepEvent('completed', { ok: result.ok, summary: result.summary, exitCode: result.exitCode })]);
  return result;
}

async function executeTool(deps: ActivityDeps, input: RunStepInput, ctx: Context): Promise<StepResult> {
  const { runId, userId, index, step } = input;
  switch (step.tool) {
    case 'write_file': {
      const r = step.contentRef
        ? await copyFile(deps, step.contentRef, { userId, runId, path: step.path })
        : await writeFile(deps, { userId, runId, path: step.path }, step.content);
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
    const tail = `${r.stdout.slice(-OUTPUT_TAIL_BYTES)}${r.stderr ? `\n[stderr]\n${r.stderr.slice(-OUTPUT_TAIL_BYTES)}` : ''}`;
    const result: StepResult & { outputTail: string } = {
      index, tool: 'shell', ok, summary: `${argv[0]}: ${why}${r.truncated ? ' (output truncated)' : ''}`,
      exitCode: r.exitCode ?? undefined, durationMs: r.durationMs, outputTail: tail,
    };
    return result;
  } finally {
    clearInterval(flushTimer);
    clearInterval(beat);
  }
}
