/**
 * The `runStep` activity: executes one plan step at most once in effect.
 * A step's result record in the workspace marks it done; a retried activity
 * (after a worker crash, say) that finds the record returns it instead of
 * running the tool again. Events use deterministic keys, so replays of the
 * activity never duplicate them on the run's stream.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ActivityDeps } from './deps.ts';
import { stepFailure } from './errors.ts';
import { deleteFile, listFiles, readFile, statFile, writeFile, writeFromRef } from './tools/files.ts';
import type { Workspace } from './tools/files.ts';
import { browse } from './tools/browser.ts';
import { fetchUrl } from './tools/fetch-url.ts';
import { webSearch } from './tools/web-search.ts';
import type { SandboxRequest } from '../sandbox/types.ts';
import { s3Keys } from '../shared/names.ts';
import { stepTimeoutMs } from '../shared/pricing.ts';
import type { PlanStep, RunEvent, StepResult } from '../shared/run.ts';

export interface RunStepInput {
  runId: string;
  userId: string;
  /** Execution number within the run: the step's identity for records, events and charges. */
  index: number;
  /** Position in the plan. */
  planIndex?: number;
  /** The run whose workspace files the file tools use; absent means the run's own. */
  workspaceId?: string;
  step: PlanStep;
}

/** Files a list_files step shows on the run's log (the step's summary counts them all). */
const LIST_EVENT_FILES = 200;

/** Bytes of output kept in the step's record for the supervisor (never in history). */
const OUTPUT_TAIL_BYTES = 4000;

const LOG_FLUSH_MS = 100;
const LOG_BATCH_MAX = 200;
const HEARTBEAT_MS = 1000;

function describeStep(step: PlanStep): Record<string, unknown> {
  switch (step.tool) {
    case 'write_file': return { path: step.path, bytes: step.contentRef ? undefined : Buffer.byteLength(step.content) };
    case 'read_file': return { path: step.path };
    case 'list_files': return { prefix: step.prefix ?? null };
    case 'stat_file': return { path: step.path };
    case 'delete_file': return { path: step.path };
    case 'shell': return { argv: step.argv };
    case 'code': return { language: step.language, bytes: Buffer.byteLength(step.source) };
    case 'fetch_url': return { url: step.url.slice(0, 2048), path: step.path ?? null };
    case 'web_search': return { query: step.query, count: step.count ?? null };
    case 'browser': return { url: step.url.slice(0, 2048), screenshot: step.screenshot ?? null, text: step.text ?? null };
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

  // A first attempt cannot find its own record (a retry after a crash is attempt 2 or later): it skips the read.
  const firstAttempt = ctx.info.attempt === 1;
  const recorded = firstAttempt ? undefined : await deps.workspace.getJson<StepResult>(recordKey);
  if (recorded) {
    const { outputTail: _tail, ...done } = recorded as StepResult & { outputTail?: string };
    await Promise.all([record(done.ok ? 'completed' : 'failed', done), deps.events.append(runId, [stepEvent('completed', { ok: done.ok, summary: done.summary })])]);
    return done;
  }

  // The user's breaker for this tool (src/infra/breaker.ts): open, the step is refused without running.
  const warn = (err: unknown) => { deps.log.warn({ err, runId, tool: step.tool }, 'tool breaker unavailable; the step runs'); return undefined; };
  const breaker = await deps.breaker?.state(userId, step.tool).catch(warn);
  if (breaker?.open) {
    const refused: StepResult = { index, tool: step.tool, ok: false, durationMs: 0,
      summary: `${step.tool} is unavailable to you until ${new Date(breaker.until).toISOString()}: it failed ${breaker.failures} time(s) in a row (its breaker is open)` };
    await Promise.all([record('failed', refused), deps.events.append(runId, [stepEvent('completed', { ok: false, summary: refused.summary, breaker: true })])]);
    return refused;
  }
  // A success writes only when there are failures on record to clear.
  const count = (ok: boolean) => (ok && !breaker ? undefined : deps.breaker?.record(userId, step.tool, ok).catch(warn));

  const sandboxed = step.tool === 'shell' || step.tool === 'code' || step.tool === 'browser' ? { sandbox: deps.sandbox.kind } : {};
  await Promise.all([record('running'), deps.events.append(runId, [stepEvent('started', { ...describeStep(step), ...sandboxed })])]);
  const started = performance.now();
  let result: StepResult;
  try {
    result = await executeTool(deps, input, ctx);
  } catch (err) {
    // A refusal (bad path, missing file) ends the step for good: record it as failed.
    if (err instanceof ApplicationFailure && err.nonRetryable) {
      await Promise.all([record('failed', { index, tool: step.tool, ok: false, summary: err.message, durationMs: Math.round(performance.now() - started) }), count(false)]);
    }
    throw err;
  }
  await count(result.ok);
  result.durationMs = Math.round(performance.now() - started);
  if (input.planIndex !== undefined) result.planIndex = input.planIndex;
  const { outputTail, ...forHistory } = result as StepResult & { outputTail?: string };
  result = forHistory;
  await deps.workspace.putJson(recordKey, { ...result, outputTail });
  await Promise.all([
    record(result.ok ? 'completed' : 'failed', result),
    deps.events.append(runId, [stepEvent('completed', { ok: result.ok, summary: result.summary, exitCode: result.exitCode })]),
  ]);
  return result;
}

async function executeTool(deps: ActivityDeps, input: RunStepInput, ctx: Context): Promise<StepResult> {
  const { runId, userId, index, step } = input;
  const ws: Workspace = { userId, runId, workspaceId: input.workspaceId ?? runId };
  // The tools that write into the workspace write conditionally, as this step (see tools/files.ts).
  const opts = { writer: `${runId}/${index}`, intentKey: s3Keys.stepIntent(userId, runId, index), firstAttempt: ctx.info.attempt === 1 };
  switch (step.tool) {
    case 'write_file': {
      const r = step.contentRef
        ? await writeFromRef(deps, ws, step.contentRef, step.path, opts)
        : await writeFile(deps, ws, step.path, Buffer.from(step.content, 'utf8'), opts);
      return { index, tool: step.tool, ok: true, summary: `wrote ${r.bytes} bytes to ${step.path} (${r.contentType.split(';')[0]})`, durationMs: 0 };
    }
    case 'read_file': {
      const r = await readFile(deps, ws, step.path);
      await deps.events.append(runId, [{ key: `step:${index}:content`, type: 'log', data: { index, stream: 'file', path: step.path, text: r.preview, bytes: r.bytes } }]);
      return { index, tool: step.tool, ok: true, summary: `read ${r.bytes} bytes from ${step.path}`, durationMs: 0 };
    }
    case 'list_files': {
      const r = await listFiles(deps, ws, step.prefix);
      const shown = r.files.slice(0, LIST_EVENT_FILES);
      await deps.events.append(runId, [{
        key: `step:${index}:files`, type: 'log',
        data: { index, stream: 'files', prefix: r.prefix, files: shown, count: r.files.length, more: r.truncated || shown.length < r.files.length },
      }]);
      const where = r.prefix === '' ? 'the workspace' : r.prefix;
      return { index, tool: step.tool, ok: true, summary: `${r.files.length}${r.truncated ? '+' : ''} file(s), ${r.totalBytes} bytes, in ${where}`, durationMs: 0 };
    }
    case 'stat_file': {
      const r = await statFile(deps, ws, step.path);
      await deps.events.append(runId, [{ key: `step:${index}:stat`, type: 'log', data: { index, stream: 'file', ...r } }]);
      const summary = r.exists ? `${step.path}: ${r.bytes} bytes, ${r.contentType ?? 'unknown type'}, modified ${r.lastModified ?? '?'}` : `no file ${step.path}`;
      return { index, tool: step.tool, ok: true, summary, durationMs: 0 };
    }
    case 'delete_file': {
      const r = await deleteFile(deps, ws, step.path);
      return { index, tool: step.tool, ok: true, summary: r.existed ? `deleted ${step.path}` : `${step.path} was already absent`, durationMs: 0 };
    }
    case 'shell': {
      return runSandboxStep(deps, input, { argv: step.argv }, stepTimeoutMs(step, toolTimeLimits(deps))!, ctx);
    }
    case 'code': {
      return runSandboxStep(deps, input, { code: { language: step.language, source: step.source } }, stepTimeoutMs(step, toolTimeLimits(deps))!, ctx);
    }
    case 'fetch_url': {
      const r = await fetchUrl(deps, ws, index, step, opts, ctx.cancellationSignal);
      if (r.text) await deps.events.append(runId, [{ key: `step:${index}:content`, type: 'log', data: { index, stream: 'fetch', url: r.text.url, text: r.text.text, bytes: r.text.bytes } }]);
      return r.result;
    }
    case 'web_search': {
      const r = await webSearch(deps, ws, index, step, opts, ctx.cancellationSignal);
      const text = r.results.map((x, i) => `${i + 1}. ${x.title} — ${x.url}`).join('\n') || 'no results';
      await deps.events.append(runId, [{ key: `step:${index}:results`, type: 'log', data: { index, stream: 'search', query: step.query, text, results: r.results } }]);
      return r.result;
    }
    case 'browser': {
      const r = await browse(deps, ws, index, step, opts, ctx.cancellationSignal, () => ctx.heartbeat());
      await deps.events.append(runId, [{ key: `step:${index}:page`, type: 'log', data: { index, stream: 'browser', ...r.page } }]);
      return r.result;
    }
  }
}

/** `: <the last line the command wrote to stderr>` (what a failing command says about why), or nothing. */
function lastLine(stderr: string): string {
  const line = stderr.trimEnd().split('\n').pop()?.trim();
  return line ? `: ${line.slice(0, 200)}` : '';
}

/** This worker's own bound on a step's time limit, whatever the plan (or an older workflow) asks. */
const toolTimeLimits = (deps: ActivityDeps) => ({ defaultMs: deps.tools.shellTimeoutMs, maxMs: deps.tools.shellTimeoutMaxMs });

async function runSandboxStep(
  deps: ActivityDeps, input: RunStepInput, command: SandboxRequest['command'], timeoutMs: number, ctx: Context,
): Promise<StepResult> {
  const { runId, index } = input;
  const attempt = ctx.info.attempt;
  // Output lines of this attempt, appended in small batches; keys carry the attempt,
  // because a new attempt is a new execution whose output is new.
  let pending: RunEvent[] = [];
  let lineNo = 0;
  // One flusher at a time; a batch leaves `pending` only once Redis took it (appends are
  // idempotent by key), so a Redis outage delays lines but never drops them.
  let inFlight: Promise<void> | undefined;
  const flushAll = async () => {
    while (pending.length > 0) {
      const batch = pending.slice(0, LOG_BATCH_MAX);
      await deps.events.append(runId, batch);
      pending = pending.slice(batch.length);
    }
  };
  const flush = (): Promise<void> => {
    inFlight ??= flushAll().finally(() => { inFlight = undefined; });
    return inFlight;
  };
  const flushTimer = setInterval(() => { void flush().catch((e: unknown) => deps.log.warn({ err: (e as Error).message, runId }, 'log flush failed; will retry')); }, LOG_FLUSH_MS);
  const beat = setInterval(() => ctx.heartbeat({ lines: lineNo }), HEARTBEAT_MS);
  try {
    const r = await deps.sandbox.run({
      runId, userId: input.userId, index,
      workspacePrefix: s3Keys.workspaceFiles(input.userId, input.workspaceId ?? runId),
      command, limits: { timeoutMs, outputMaxBytes: deps.tools.outputMaxBytes },
    }, {
      signal: ctx.cancellationSignal,
      heartbeat: (d) => ctx.heartbeat({ lines: lineNo, ...(d as object) }),
      onLine: (stream, text) => {
        lineNo += 1;
        pending.push({ key: `step:${index}:a${attempt}:line:${lineNo}`, type: 'log', data: { index, stream, text } });
        if (pending.length >= LOG_BATCH_MAX) void flush().catch(() => undefined); // retried by the timer
      },
    }).catch((err: unknown) => {
      // The sandbox's and the workspace's refusals become the step's non-retryable failures.
      throw stepFailure(err);
    });
    clearInterval(flushTimer);
    // The step's output must reach the log before its result is recorded: keep trying
    // (heartbeating) while Redis is away; the activity's own timeouts bound the wait.
    for (;;) {
      try {
        await flush();
        break;
      } catch (err) {
        deps.log.warn({ err: (err as Error).message, runId, pending: pending.length }, 'log flush failed; retrying');
        ctx.heartbeat({ lines: lineNo });
        await sleep(500);
      }
    }
    const label = 'argv' in command ? command.argv[0]! : command.code.language;
    const ok = !r.timedOut && r.exitCode === 0 && !r.limit;
    const why = r.spawnError ? `could not start ${label}: ${r.spawnError}`
      : r.limit ? `exit code ${r.exitCode ?? `signal ${r.signal}`}: stopped by the sandbox, ${r.limit}`
      : r.timedOut ? `timed out after ${timeoutMs} ms`
      : ok ? 'exit code 0'
      : `exit code ${r.exitCode ?? `signal ${r.signal}`}${lastLine(r.stderr)}`;
    const files = r.changedFiles.length > 0 ? `; ${r.changedFiles.length} file(s) changed` : '';
    const tail = `${r.stdout.slice(-OUTPUT_TAIL_BYTES)}${r.stderr ? `\n[stderr]\n${r.stderr.slice(-OUTPUT_TAIL_BYTES)}` : ''}`;
    const result: StepResult & { outputTail: string } = {
      index, tool: 'argv' in command ? 'shell' : 'code', ok, summary: `${label}: ${why}${r.truncated ? ' (output truncated)' : ''}${files}`,
      exitCode: r.exitCode ?? undefined, durationMs: r.durationMs, outputTail: tail,
    };
    return result;
  } finally {
    clearInterval(flushTimer);
    clearInterval(beat);
  }
}
