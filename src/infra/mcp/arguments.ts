/**
 * Checks a call's arguments against the tool's input schema before the call is made, so
 * arguments a model got wrong fail the step at once with the schema's words (McpRejected,
 * not retried) instead of reaching the server. The validator is the SDK's own (Ajv, the
 * one it checks output schemas with). The schema is the server's (an operator-chosen
 * server, capped at 20 kB by tools.ts); one Ajv cannot compile (another draft's keywords
 * it does not know, a broken $ref) is not held against the call: the server judges.
 */
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { plainText } from './text.ts';

type Check = (input: unknown) => { valid: boolean; errorMessage?: string };

const validator = new AjvJsonSchemaValidator();
/** Compiled checks by schema object (the listing's, kept for the connection's life); null: not compilable. */
const compiled = new WeakMap<object, Check | null>();

function checkFor(schema: Record<string, unknown>): Check | null {
  let check = compiled.get(schema);
  if (check === undefined) {
    // `$schema` would make Ajv look for that draft's meta-schema; the keywords are what matter.
    const { $schema: _draft, ...rest } = schema;
    try {
      check = validator.getValidator(rest);
    } catch {
      check = null;
    }
    compiled.set(schema, check);
  }
  return check;
}

/** Why `args` do not fit `schema` (Ajv's words, `arguments` for the root), or undefined when they fit or it cannot tell. */
export function argumentsError(schema: Record<string, unknown>, args: Record<string, unknown>): string | undefined {
  const r = checkFor(schema)?.(args);
  if (!r || r.valid) return undefined;
  return plainText((r.errorMessage ?? 'invalid').replace(/\bdata(?=[/.\s,]|$)/g, 'arguments'), 500);
}
