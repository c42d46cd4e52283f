/** OTEL_EXPORTER_OTLP_ENDPOINT: parsed once into `config.tracing`; unset means tracing off; a bad URL is refused in one line. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/shared/config.ts';

const secrets = { S3_ACCESS_KEY_ID: 'local-key', S3_SECRET_ACCESS_KEY: 'local-secret-value', DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/agentrun' };

describe('tracing config', () => {
  it('is off (no slice) when OTEL_EXPORTER_OTLP_ENDPOINT is unset or empty', () => {
    assert.equal(loadConfig(secrets).tracing, undefined);
    assert.equal(loadConfig({ ...secrets, OTEL_EXPORTER_OTLP_ENDPOINT: '' }).tracing, undefined);
  });

  it('carries an http(s) endpoint', () => {
    assert.deepEqual(loadConfig({ ...secrets, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318' }).tracing, { otlpEndpoint: 'http://otel-collector:4318' });
    assert.deepEqual(loadConfig({ ...secrets, OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otlp.example.com/otlp' }).tracing, { otlpEndpoint: 'https://otlp.example.com/otlp' });
  });

  it('refuses a value that is not an http(s) URL in one line naming the variable', () => {
    for (const bad of ['collector:4318', 'grpc://collector:4317', 'not a url']) {
      assert.throws(() => loadConfig({ ...secrets, OTEL_EXPORTER_OTLP_ENDPOINT: bad }), (e: unknown) =>
        e instanceof ConfigError && e.message.includes(`OTEL_EXPORTER_OTLP_ENDPOINT=${JSON.stringify(bad)}`) && !e.message.includes('\n'), bad);
    }
  });
});
