/**
 * The worker's part of tracing: the workflow bundle always holds the OpenTelemetry workflow
 * interceptors (bundle.ts), whose spans leave a workflow only through the `exporter` sink —
 * into this process's span processor with tracing on, dropped with it off. Activities get a
 * span each (a child of the workflow's `StartActivity` span) only with tracing on.
 */
import type { InjectedSinks, WorkerOptions } from '@temporalio/worker';
import { makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry';
import type { Tracing } from '../infra/tracing.ts';

/** Worker options for `tracing` (undefined: off); every worker running the bundle needs the sink. */
export function workerTracingOptions(tracing: Tracing | undefined): Pick<WorkerOptions, 'sinks' | 'interceptors'> {
  const sinks: InjectedSinks<OpenTelemetrySinks> = {
    exporter: tracing ? makeWorkflowExporter(tracing.spanProcessor, tracing.resource) : { export: { fn: () => undefined } },
  };
  if (!tracing) return { sinks };
  return {
    sinks,
    interceptors: {
      activity: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer: tracing.tracer }), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) })],
    },
  };
}
