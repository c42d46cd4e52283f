/**
 * One step's tool, by name: the file tools (./files.ts), shell and code in the sandbox
 * (./sandboxed.ts), fetch_url, web_search, browser and MCP connectors. Each answers the
 * step's result; what it shows on the run's log it appends with deterministic keys.
 */
import type { Context } from '@temporalio/activity';
import type { ActivityDeps } from '../deps.ts';
import { stepKey } from '../step-input.ts';
import type { RunStepInput } from '../step-input.ts';
import { deleteFile, listFiles, readFile, statFile, writeFile, writeFromRef } from './files.ts';
import type { Workspace } from './files.ts';
import { browse } from './browser.ts';
import { fetchUrl } from './fetch-url.ts';
import { callMcp } from './mcp.ts';
import { runSandboxStep, toolTimeLimits } from './sandboxed.ts';
import { webSearch } from './web-search.ts';
import { s3Keys } from '../../shared/names.ts';
import { stepTimeoutMs } from '../../shared/pricing.ts';
import type { PlanStep, StepResult } from '../../shared/run.ts';

/** Files a list_files step shows on the run's log (the step's summary counts them all). */
const LIST_EVENT_FILES = 200;
/** Runs a tool that takes a while (a browser, a connector), heartbeating every second: tool steps time out after 10 s without one. */
async function heartbeating<T>(ctx: Context, work: () => Promise<T>): Promise<T> {
  const beat = setInterval(() => ctx.heartbeat(), 1000);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}

/** What a step is, for its record and its `started` event (never its whole content). */
export function describeStep(step: PlanStep): Record<string, unknown> {
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
    case 'mcp': return { connector: `mcp:${step.server}.${step.name}`, bytes: JSON.stringify(step.arguments ?? {}).length };
  }
}


/** Runs the step's tool; `fresh`: no earlier attempt of the step wrote anything (steps.ts StepBook). */
export async function executeTool(deps: ActivityDeps, input: RunStepInput, ctx: Context, fresh: boolean): Promise<StepResult> {
  const { runId, userId, index, step } = input;
  const ws: Workspace = { userId, runId, workspaceId: input.workspaceId ?? runId };
  // The tools that write into the workspace write conditionally, as this step (see tools/files.ts).
  const opts = { writer: `${runId}/${index}`, intentKey: s3Keys.stepIntent(userId, runId, index), fresh };
  switch (step.tool) {
    case 'write_file': {
      const r = step.contentRef
        ? await writeFromRef(deps, ws, step.contentRef, step.path, opts)
        : await writeFile(deps, ws, step.path, Buffer.from(step.content, 'utf8'), opts);
      return { index, tool: step.tool, ok: true, summary: `wrote ${r.bytes} bytes to ${step.path} (${r.contentType.split(';')[0]})`, durationMs: 0 };
    }
    case 'read_file': {
      const r = await readFile(deps, ws, step.path);
      await deps.events.append(runId, [{ key: `${stepKey(input)}:content`, type: 'log', data: { index, stream: 'file', path: step.path, text: r.preview, bytes: r.bytes } }]);
      return { index, tool: step.tool, ok: true, summary: `read ${r.bytes} bytes from ${step.path}`, durationMs: 0 };
    }
    case 'list_files': {
      const r = await listFiles(deps, ws, step.prefix);
      const shown = r.files.slice(0, LIST_EVENT_FILES);
      await deps.events.append(runId, [{
        key: `${stepKey(input)}:files`, type: 'log',
        data: { index, stream: 'files', prefix: r.prefix, files: shown, count: r.files.length, more: r.truncated || shown.length < r.files.length },
      }]);
      const where = r.prefix === '' ? 'the workspace' : r.prefix;
      return { index, tool: step.tool, ok: true, summary: `${r.files.length}${r.truncated ? '+' : ''} file(s), ${r.totalBytes} bytes, in ${where}`, durationMs: 0 };
    }
    case 'stat_file': {
      const r = await statFile(deps, ws, step.path);
      await deps.events.append(runId, [{ key: `${stepKey(input)}:stat`, type: 'log', data: { index, stream: 'file', ...r } }]);
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
      if (r.text) await deps.events.append(runId, [{ key: `${stepKey(input)}:content`, type: 'log', data: { index, stream: 'fetch', url: r.text.url, text: r.text.text, bytes: r.text.bytes } }]);
      return r.result;
    }
    case 'web_search': {
      const r = await webSearch(deps, ws, index, step, opts, ctx.cancellationSignal);
      const text = r.results.map((x, i) => `${i + 1}. ${x.title} — ${x.url}`).join('\n') || 'no results';
      await deps.events.append(runId, [{ key: `${stepKey(input)}:results`, type: 'log', data: { index, stream: 'search', query: step.query, text, results: r.results } }]);
      return r.result;
    }
    case 'browser': {
      const r = await heartbeating(ctx, () => browse(deps, ws, index, step, opts, ctx.cancellationSignal));
      await deps.events.append(runId, [{ key: `${stepKey(input)}:page`, type: 'log', data: { index, stream: 'browser', ...r.page } }]);
      return r.result;
    }
    case 'mcp': {
      const r = await heartbeating(ctx, () => callMcp(deps, ws, index, step, opts, ctx.cancellationSignal));
      await deps.events.append(runId, [{ key: `${stepKey(input)}:mcp`, type: 'log', data: { index, stream: 'mcp', ...r.log } }]);
      return r.result;
    }
  }
}

