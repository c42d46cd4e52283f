/**
 * The workflow bundle's tracing interceptors: OpenTelemetry's, for the runs whose start
 * carried a trace context (the API's client adds one when tracing is on). A run started
 * without one (tracing off, or started from the `temporal` CLI) skips them and pays
 * nothing for spans no one collects: they cost about a third of a run's workflow CPU.
 * Decided once per execution from its start headers, so a replay takes the same path;
 * histories recorded before this choice existed (no UNTRACED_RUNS marker) keep them on.
 * They add headers to commands, never commands.
 */
import { OpenTelemetryInboundInterceptor, OpenTelemetryInternalsInterceptor, OpenTelemetryOutboundInterceptor } from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';
import { TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation.js';
import { has, UNTRACED_RUNS } from './patches.ts';
import type { WorkflowInboundCallsInterceptor, WorkflowInterceptors, WorkflowInternalsInterceptor, WorkflowOutboundCallsInterceptor } from '@temporalio/workflow';

type Method = (input: unknown, next: (input: unknown) => unknown) => unknown;

/** `target`'s interceptor methods, each calling through to it while `on()`, else straight to `next`. */
function gated<T extends object>(target: T, on: () => boolean): T {
  const out: Record<string, Method> = {};
  for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(target))) {
    const method = (target as Record<string, unknown>)[name];
    if (name === 'constructor' || typeof method !== 'function') continue;
    out[name] = (input, next) => (on() ? (method as Method).call(target, input, next) : next(input));
  }
  return out as T;
}

export function interceptors(): WorkflowInterceptors {
  // Until the run's start is seen, as before (a signal delivered with the start comes first).
  let on = true;
  const inbound = new OpenTelemetryInboundInterceptor();
  const gatedInbound = gated<WorkflowInboundCallsInterceptor>(inbound, () => on);
  return {
    inbound: [{
      ...gatedInbound,
      execute(input, next) {
        on = input.headers[TRACE_HEADER] !== undefined || !has(UNTRACED_RUNS);
        return on ? inbound.execute(input, next) : next(input);
      },
    }],
    outbound: [gated<WorkflowOutboundCallsInterceptor>(new OpenTelemetryOutboundInterceptor(), () => on)],
    internals: [gated<WorkflowInternalsInterceptor>(new OpenTelemetryInternalsInterceptor(), () => on)],
  };
}
