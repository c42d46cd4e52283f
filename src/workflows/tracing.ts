/**
 * The workflow bundle's tracing interceptors: OpenTelemetry's, for the runs whose start
 * carried a trace context (the API's client adds one when tracing is on). A run started
 * without one (tracing off, or started from the `temporal` CLI) skips them and pays
 * nothing for spans no one collects. Decided once per execution from its start headers,
 * so a replay takes the same path; histories recorded before this choice existed (no
 * UNTRACED_RUNS marker) keep them on. They add headers to commands, never commands.
 *
 * OpenTelemetry is loaded only when a run first calls into it: a workflow's modules are
 * initialised once per execution (the worker's reusable V8 context keeps them apart per run),
 * and its ~110 modules and tracer provider were most of an untraced run's workflow CPU.
 * So the method names below are listed here, not read off its classes (a unit test checks
 * them against the classes), and the trace header's name is OpenTelemetry's constant.
 */
import { has, UNTRACED_RUNS } from './patches.ts';
import type { WorkflowInterceptors } from '@temporalio/workflow';
import type * as Otel from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';

/** The header a traced start carries (`TRACE_HEADER` of @temporalio/interceptors-opentelemetry). */
export const TRACE_HEADER = '_tracer-data';

/** The methods of OpenTelemetry's three workflow interceptors (`execute` is handled apart). */
export const TRACED_METHODS = {
  inbound: ['handleSignal', 'handleUpdate', 'validateUpdate', 'handleQuery'],
  outbound: ['scheduleActivity', 'scheduleLocalActivity', 'startNexusOperation', 'startChildWorkflowExecution', 'continueAsNew', 'signalWorkflow', 'getLogAttributes', 'getMetricTags'],
  internals: ['dispose'],
} as const;

type Method = (input: unknown, next: (input: unknown) => unknown) => unknown;
type Kind = keyof typeof TRACED_METHODS;

/** Methods that only read what OpenTelemetry holds (the active span): with it not loaded, no span exists. */
const READERS: ReadonlySet<string> = new Set(['getLogAttributes', 'getMetricTags', 'dispose']);

// The bundler (webpack) resolves this require and runs the module on first call only.
declare const require: (id: string) => unknown;
const load = () => require('@temporalio/interceptors-opentelemetry/lib/workflow/index.js') as typeof Otel;

export function interceptors(): WorkflowInterceptors {
  // Until the run's start is seen, as before (a signal delivered with the start comes first).
  let on = true;
  let otel: typeof Otel | undefined;
  const made: Partial<Record<Kind, Record<string, Method>>> = {};
  const target = (kind: Kind): Record<string, Method> => {
    if (!made[kind]) {
      otel ??= load();
      const object = kind === 'inbound' ? new otel.OpenTelemetryInboundInterceptor()
        : kind === 'outbound' ? new otel.OpenTelemetryOutboundInterceptor() : new otel.OpenTelemetryInternalsInterceptor();
      made[kind] = object as unknown as Record<string, Method>;
    }
    return made[kind];
  };
  const gated = (kind: Kind): Record<string, Method> => {
    const out: Record<string, Method> = {};
    for (const name of TRACED_METHODS[kind]) {
      out[name] = (input, next) => {
        if (!on || (otel === undefined && READERS.has(name))) return next(input);
        const object = target(kind);
        const method = object[name];
        return typeof method === 'function' ? method.call(object, input, next) : next(input);
      };
    }
    return out;
  };
  const inbound: Record<string, Method> = {
    ...gated('inbound'),
    execute(input, next) {
      on = (input as { headers: Record<string, unknown> }).headers[TRACE_HEADER] !== undefined || !has(UNTRACED_RUNS);
      if (!on) return next(input);
      const object = target('inbound');
      return (object.execute as Method).call(object, input, next);
    },
  };
  return { inbound: [inbound], outbound: [gated('outbound')], internals: [gated('internals')] };
}
