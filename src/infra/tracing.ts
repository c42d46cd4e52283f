/**
 * Tracing: the one owner of OpenTelemetry in a process. With OTEL_EXPORTER_OTLP_ENDPOINT
 * set (`config.tracing`), `startTracing` registers a tracer provider that batches spans to
 * the OTLP/HTTP receiver (JSON; the exporter reads its own OTEL_EXPORTER_OTLP_* variables),
 * with W3C trace-context propagation; `shutdown()` flushes it when the process stops.
 * Unset: no provider, nothing registered, one info line. Also the HTTP server span of each
 * request (`httpServerSpans`), joining an incoming `traceparent`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { envDetectorSync, Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-node';
import {
  ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE, ATTR_SERVICE_NAME, ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import type { Config } from '../shared/config.ts';
import type { Logger } from './logger.ts';

/** A started tracer provider: what the Temporal interceptors and sinks need, and its shutdown. */
export interface Tracing {
  readonly tracer: Tracer;
  /** The process's resource (service.name, then OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES over it). */
  readonly resource: Resource;
  /** The batching processor, also fed the workflow spans the worker's sink receives. */
  readonly spanProcessor: SpanProcessor;
  /** Ends and flushes every span; never throws (a failure is logged). */
  shutdown(): Promise<void>;
}

/**
 * Starts tracing when `config` (Config['tracing']) is set; `serviceName` (`agentrun-api`,
 * `agentrun-worker`) is the default service.name. Returns undefined, having logged that
 * tracing is off, otherwise.
 */
export function startTracing(config: Config['tracing'], serviceName: string, log: Logger): Tracing | undefined {
  if (!config) {
    log.info('tracing off (OTEL_EXPORTER_OTLP_ENDPOINT unset)');
    return undefined;
  }
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the env detector) win over the default name.
  const resource = Resource.default().merge(new Resource({ [ATTR_SERVICE_NAME]: serviceName })).merge(envDetectorSync.detect());
  // The exporter takes its URL from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else `${OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces`.
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter());
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register(); // AsyncLocalStorage context, W3C traceparent + baggage propagation
  log.info({ endpoint: config.otlpEndpoint, service: resource.attributes[ATTR_SERVICE_NAME] }, 'tracing on: spans exported by OTLP/HTTP');
  return {
    tracer: trace.getTracer('agentrun'),
    resource,
    spanProcessor,
    shutdown: () => provider.shutdown().catch((err: unknown) => { log.warn({ err }, 'could not flush the last spans'); }),
  };
}

/**
 * Express-style middleware: a SERVER span per request, a child of the caller's
 * `traceparent` when it sends one, named `METHOD <route template>` once the answer is
 * sent (`routeOf` reads the template; `unmatched` when no route took the request);
 * everything the request does runs in its context.
 */
export function httpServerSpans<Req extends IncomingMessage & { originalUrl?: string }>(tracer: Tracer, routeOf: (req: Req) => string) {
  return (req: Req, res: ServerResponse, next: () => void): void => {
    const parent = propagation.extract(context.active(), req.headers);
    const method = req.method ?? 'GET';
    const span = tracer.startSpan(method, {
      kind: SpanKind.SERVER,
      attributes: { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_URL_PATH]: (req.originalUrl ?? req.url ?? '/').split('?')[0] },
    }, parent);
    res.once('close', () => {
      const route = routeOf(req);
      span.updateName(`${method} ${route}`);
      span.setAttributes({ [ATTR_HTTP_ROUTE]: route, [ATTR_HTTP_RESPONSE_STATUS_CODE]: res.statusCode });
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(parent, span), next);
  };
}
