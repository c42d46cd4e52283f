/**
 * Tracing: the one owner of OpenTelemetry in a process. With OTEL_EXPORTER_OTLP_ENDPOINT
 * set (`config.tracing`), `startTracing` registers a tracer provider that batches spans to
 * the OTLP/HTTP receiver (JSON; the exporter reads its own OTEL_EXPORTER_OTLP_* variables),
 * with W3C trace-context propagation; `shutdown()` flushes it when the process stops.
 * Unset: no provider, nothing registered, one info line. Also the HTTP server span of each
 * request (`httpServerSpans`), joining an incoming `traceparent`. The SDK, the exporter
 * and the semantic conventions are loaded only when tracing is on: 70–80 ms of CPU at the
 * start of every process that does not trace (and a test run starts some 230 of them).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { Config } from '../shared/config.ts';
import type { Logger } from './logger.ts';

/** A started tracer provider: what the Temporal interceptors and sinks need, and its shutdown. */
export interface Tracing {
  readonly tracer: Tracer;
  /** Express-style middleware: a SERVER span per request (`routeOf` names its route template). */
  httpServerSpans<Req extends IncomingMessage & { originalUrl?: string }>(routeOf: (req: Req) => string): (req: Req, res: ServerResponse, next: () => void) => void;
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
export async function startTracing(config: Config['tracing'], serviceName: string, log: Logger): Promise<Tracing | undefined> {
  if (!config) {
    log.info('tracing off (OTEL_EXPORTER_OTLP_ENDPOINT unset)');
    return undefined;
  }
  const [{ OTLPTraceExporter }, { envDetectorSync, Resource }, { BatchSpanProcessor, NodeTracerProvider }, semconv] = await Promise.all([
    import('@opentelemetry/exporter-trace-otlp-http'), import('@opentelemetry/resources'), import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/semantic-conventions'),
  ]);
  const { ATTR_SERVICE_NAME } = semconv;
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the env detector) win over the default name.
  const resource = Resource.default().merge(new Resource({ [ATTR_SERVICE_NAME]: serviceName })).merge(envDetectorSync.detect());
  // The exporter takes its URL from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else `${OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces`.
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter());
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register(); // AsyncLocalStorage context, W3C traceparent + baggage propagation
  log.info({ endpoint: config.otlpEndpoint, service: resource.attributes[ATTR_SERVICE_NAME] }, 'tracing on: spans exported by OTLP/HTTP');
  const tracer = trace.getTracer('agentrun');
  return {
    tracer,
    resource,
    httpServerSpans: (routeOf) => httpServerSpans(tracer, routeOf, semconv),
    spanProcessor,
    shutdown: () => provider.shutdown().catch((err: unknown) => { log.warn({ err }, 'could not flush the last spans'); }),
  };
}

/** The attribute names the request spans carry (from @opentelemetry/semantic-conventions). */
type HttpAttributes = Record<'ATTR_HTTP_REQUEST_METHOD' | 'ATTR_HTTP_RESPONSE_STATUS_CODE' | 'ATTR_HTTP_ROUTE' | 'ATTR_URL_PATH', string>;

/**
 * Express-style middleware: a SERVER span per request, a child of the caller's
 * `traceparent` when it sends one, named `METHOD <route template>` once the answer is
 * sent (`routeOf` reads the template; `unmatched` when no route took the request);
 * everything the request does runs in its context.
 */
function httpServerSpans<Req extends IncomingMessage & { originalUrl?: string }>(tracer: Tracer, routeOf: (req: Req) => string, attrs: HttpAttributes) {
  const { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE, ATTR_URL_PATH } = attrs;
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
