/**
 * The worker's part of tracing: the workflow bundle always holds the OpenTelemetry workflow
 * interceptors (bundle.ts), whose spans leave a workflow only through the `exporter` sink —
 * into this process's span processor with tracing on, dropped with it off. Activities get a
 * span each (a child of the workflow's `StartActivity` span) only with tracing on.
 */
import type { InjectedSinks, WorkerOptions } from '@temporalio/worker';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry';
import type { Tracing } from '../infra/tracing.ts';

/**
 * Worker options for `tracing` (undefined: off); every worker running the bundle needs the sink.
 * The interceptors' module is loaded only with tracing on (a worker without it starts without it).
 */
export async function workerTracingOptions(tracing: Tracing | undefined): Promise<Pick<WorkerOptions, 'sinks' | 'interceptors'>> {
  if (!tracing) {
    const sinks: InjectedSinks<OpenTelemetrySinks> = { exporter: { export: { fn: () => undefined } } };
    return { sinks };
  }
  const { makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor } = await import('@temporalio/interceptors-opentelemetry');
  const sinks: InjectedSinks<OpenTelemetrySinks> = { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) };
  return {
    sinks,
    interceptors: {
      activity: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer: tracing.tracer }), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) })],
    },
  };
}
