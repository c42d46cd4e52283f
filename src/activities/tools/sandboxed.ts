/**
 * shell and code steps: the command runs in the executor (src/sandbox) against a working
 * copy of the workspace; its output lines go onto the log in small batches while it runs,
 * and the step's result says how it ended, in words the supervisor can act on.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '@temporalio/activity';
import type { ActivityDeps } from '../deps.ts';
import { isWorkerShutdown, stepFailure } from '../errors.ts';
import { stepKey } from '../step-input.ts';
import type { RunStepInput } from '../step-input.ts';
import type { SandboxRequest } from '../../sandbox/types.ts';
import { s3Keys } from '../../shared/names.ts';
import type { RunEvent, StepResult } from '../../shared/run.ts';

/** Bytes of output kept in the step's record for the supervisor (never in history). */
const OUTPUT_TAIL_BYTES = 4000;

const LOG_FLUSH_MS = 100;
const LOG_BATCH_MAX = 200;
const HEARTBEAT_MS = 1000;
/** `: <the last line the command wrote to stderr>` (what a failing command says about why), or nothing. */
function lastLine(stderr: string): string {
  const line = stderr.trimEnd().split('\n').pop()?.trim();
  return line ? `: ${line.slice(0, 200)}` : '';
}

/** This worker's own bound on a step's time limit, whatever the plan (or an older workflow) asks. */
export const toolTimeLimits = (deps: ActivityDeps) => ({ defaultMs: deps.tools.shellTimeoutMs, maxMs: deps.tools.shellTimeoutMaxMs });

export async function runSandboxStep(
  deps: ActivityDeps, input: RunStepInput, command: Exclude<SandboxRequest['command'], { browser: unknown } | { mcp: unknown }>, timeoutMs: number, ctx: Context,
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
      workerStopping: () => isWorkerShutdown(ctx.cancellationSignal.reason),
      heartbeat: (d) => ctx.heartbeat({ lines: lineNo, ...(d as object) }),
      onLine: (stream, text) => {
        lineNo += 1;
        pending.push({ key: `${stepKey(input)}:a${attempt}:line:${lineNo}`, type: 'log', data: { index, stream, text } });
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

