/** The building blocks of the OpenAPI document: zod → JSON Schema, operations with their shared error answers, parameters, bodies. */
import { z } from 'zod';
import { EVENT_TYPES } from '../../shared/run.ts';

export type JsonObject = Record<string, unknown>;

const schemaRef = (id: string) => `#/components/schemas/${id}`;
export const ref = (id: string) => ({ $ref: schemaRef(id) });

/** Drops what zod adds that says nothing to a reader: safe-integer bounds, the date-time regex, open objects' `{}`. */
function tidy(io: 'input' | 'output') {
  return ({ zodSchema, jsonSchema }: { zodSchema: z.core.$ZodTypes; jsonSchema: JsonObject }) => {
    if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
    if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
    if (jsonSchema.format === 'date-time') delete jsonSchema.pattern;
    const extra = jsonSchema.additionalProperties;
    if (extra !== null && typeof extra === 'object' && Object.keys(extra).length === 0) delete jsonSchema.additionalProperties;
    // An answer lists the fields it always carries; a later version may add more. Only a strict schema is closed.
    if (io === 'output' && extra === false && zodSchema._zod.def.type === 'object' && zodSchema._zod.def.catchall === undefined) {
      delete jsonSchema.additionalProperties;
    }
  };
}

/** Named zod schemas → components.schemas, referring to each other by `$ref`. */
export function toComponents(named: Record<string, z.ZodType>, io: 'input' | 'output'): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, { target: 'draft-2020-12', io, uri: schemaRef, override: tidy(io) });
  const out: Record<string, JsonObject> = {};
  for (const [id, { $schema: _s, $id: _i, ...schema }] of Object.entries(schemas)) out[id] = schema;
  return out;
}

/** The query parameters a route's zod query schema accepts; `extra` adds descriptions or replaces entries. */
export function queryParameters(schema: z.ZodObject, extra: Record<string, JsonObject> = {}): JsonObject[] {
  const js = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', override: tidy('input') }) as { properties?: Record<string, JsonObject>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({ name, in: 'query', required: js.required?.includes(name) ?? false, schema: s, ...extra[name] }));
}

const ERROR_RESPONSES = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict', 410: 'Gone',
  413: 'PayloadTooLarge', 415: 'UnsupportedMediaType', 422: 'IdempotencyKeyReused', 429: 'TooManyRequests',
  500: 'InternalError', 503: 'Unavailable',
} as const;
type ErrorStatus = keyof typeof ERROR_RESPONSES;

export const json = (schema: JsonObject, description: string, headers?: JsonObject) => ({
  description, ...(headers ? { headers } : {}), content: { 'application/json': { schema } },
});
export const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });
export const problem = (description: string, headers?: JsonObject) => json(ref('Error'), description, headers);

interface OperationSpec {
  id: string;
  tag: string;
  summary: string;
  description?: string;
  parameters?: JsonObject[];
  body?: JsonObject;
  /** Success answers by status. */
  ok: Record<number, JsonObject>;
  /** Error answers besides the ones every operation of its kind has. */
  errors?: ErrorStatus[];
  /** No credentials, no rate limit (ops endpoints). */
  open?: boolean;
  /** An event stream: also takes `?access_token=`. */
  stream?: boolean;
}

export const CALLER_SECURITY = [{ bearerJwt: [] }, { bearerApiKey: [] }, { apiKeyHeader: [] }];

export function operation(spec: OperationSpec): JsonObject {
  // Authenticated routes also answer 401 (credentials), 429 (rate limit) and 503 (JWKS unreachable); every route may 500.
  const errorCodes = new Set<ErrorStatus>([...(spec.errors ?? []), ...(spec.open ? [] : [401, 429, 503] as const), 500]);
  const responses: [string, JsonObject][] = [
    ...Object.entries(spec.ok),
    ...[...errorCodes].map((c): [string, JsonObject] => [String(c), { $ref: `#/components/responses/${ERROR_RESPONSES[c]}` }]),
  ];
  responses.sort(([a], [b]) => Number(a) - Number(b));
  return {
    tags: [spec.tag],
    operationId: spec.id,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    ...(spec.parameters ? { parameters: spec.parameters } : {}),
    ...(spec.body ? { requestBody: spec.body } : {}),
    responses: Object.fromEntries(responses),
    ...(spec.open ? { security: [] } : spec.stream ? { security: [...CALLER_SECURITY, { accessTokenQuery: [] }] } : {}),
  };
}

export const pathParam = (name: string, description: string) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } });
export const RUN_ID_PARAM = { $ref: '#/components/parameters/RunId' };

export const jsonBody = (schema: JsonObject, required: boolean, description?: string) => ({
  required, ...(description ? { description } : {}), content: { 'application/json': { schema } },
});
export const IGNORED_BODY = jsonBody({}, false, 'Not needed; a JSON body, if sent, is ignored (another content type is 415)');

const SSE_EVENTS = `\`retry:\` first, then events \`${EVENT_TYPES.join('`, `')}\` (JSON \`data\`, \`id\` = the Redis stream entry id); \`gap\` when older events came from the archive or were lost; a \`: live\` comment once everything up to now has been sent (the replay caught up); \`: heartbeat\` comments while idle. A run recorded but not started yet (the seeds' \`create\`) gets a \`: not started\` comment and the stream waits for it; a run that ended without ever starting gets one \`end\` with \`started: false\`. The response ends after \`end\`.`;
export const eventStream = {
  description: `The run's events: a replay after Last-Event-ID, then live. ${SSE_EVENTS}`,
  content: { 'text/event-stream': { schema: { type: 'string' } } },
};
export const streamParameters = [
  { name: 'Last-Event-ID', in: 'header', required: false, description: 'Resume after this event id', schema: { type: 'string', pattern: '^\\d{1,20}-\\d{1,20}$' } },
  { name: 'lastEventId', in: 'query', required: false, description: 'As Last-Event-ID, for clients that cannot send headers', schema: { type: 'string', pattern: '^\\d{1,20}-\\d{1,20}$' } },
];
