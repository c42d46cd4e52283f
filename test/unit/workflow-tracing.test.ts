/**
 * src/workflows/tracing.ts names OpenTelemetry's interceptor methods and trace header itself,
 * so that untraced runs never load OpenTelemetry: these must stay equal to the library's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TRACE_HEADER as OTEL_TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation.js';
import * as otel from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';
import { TRACE_HEADER, TRACED_METHODS } from '../../src/workflows/tracing.ts';

const methods = (c: { prototype: object }) => Object.getOwnPropertyNames(c.prototype).filter((n) => n !== 'constructor').sort();

describe('workflow tracing interceptors', () => {
  it('gate every method of OpenTelemetry\'s workflow interceptors (execute apart)', () => {
    assert.deepEqual([...TRACED_METHODS.inbound, 'execute'].sort(), methods(otel.OpenTelemetryInboundInterceptor));
    assert.deepEqual([...TRACED_METHODS.outbound].sort(), methods(otel.OpenTelemetryOutboundInterceptor));
    assert.deepEqual([...TRACED_METHODS.internals].sort(), methods(otel.OpenTelemetryInternalsInterceptor));
  });

  it('read the trace header OpenTelemetry\'s client interceptor writes', () => {
    assert.equal(TRACE_HEADER, OTEL_TRACE_HEADER);
  });
});
