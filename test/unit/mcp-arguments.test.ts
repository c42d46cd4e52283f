/**
 * MCP tool arguments checked against the tool's input schema (src/infra/mcp/arguments.ts):
 * what does not fit is named in the schema's words; draft-07 and 2020-12 schemas both
 * work; a schema Ajv cannot compile lets the call through for the server to judge.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { argumentsError } from '../../src/infra/mcp/arguments.ts';

const echo = { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { message: { type: 'string', maxLength: 10 } }, required: ['message'], additionalProperties: false };

describe('MCP tool arguments against the tool\'s input schema', () => {
  it('passes arguments that fit, and names what does not', () => {
    assert.equal(argumentsError(echo, { message: 'hi' }), undefined);
    assert.equal(argumentsError(echo, { message: 3 }), 'arguments/message must be string');
    assert.match(argumentsError(echo, {})!, /^arguments must have required property 'message'$/);
    assert.match(argumentsError(echo, { message: 'x'.repeat(11) })!, /arguments\/message must NOT have more than 10 characters/);
    assert.match(argumentsError(echo, { message: 'hi', extra: 1 })!, /arguments must NOT have additional properties/);
  });

  it('takes a 2020-12 schema, and formats', () => {
    const s = { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { url: { type: 'string', format: 'uri' }, n: { type: 'integer', minimum: 1 } }, required: ['url'] };
    assert.equal(argumentsError(s, { url: 'https://example.org/', n: 2 }), undefined);
    assert.match(argumentsError(s, { url: 'not a uri', n: 0 })!, /arguments\/url must match format "uri".*arguments\/n must be >= 1/);
  });

  it('lets the call through when the schema cannot be compiled (the server judges)', () => {
    assert.equal(argumentsError({ type: 'object', properties: { a: { $ref: '#/definitions/missing' } } }, { a: 1 }), undefined);
    assert.equal(argumentsError({ type: 'no-such-type' }, { a: 1 }), undefined);
  });
});
