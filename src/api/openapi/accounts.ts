/** The accounts part of the OpenAPI document: GET /v1/me and the operators' /v1/users routes, with their shapes. */
import { z } from 'zod';
import { adjustBody, ledgerQuery, limitsBody } from '../account-routes.ts';
import { IDEMPOTENCY_KEY_RE } from '../idempotency.ts';
import { headerRef, json, jsonBody, operation, pathParam, queryParameters, ref } from './operations.ts';
import type { JsonObject } from './operations.ts';

const balance = z.object({ available: z.number().int().min(0).describe('Credits a new run can reserve'), reserved: z.number().int().min(0).describe('Credits reserved by runs going') });
const limitOf = z.number().int().min(1).nullable().describe('null: no limit');
const account = z.object({
  userId: z.string(),
  balance,
  limits: z.object({
    source: z.enum(['user', 'default']).describe('`user`: limits of their own (an operator set them); `default`: DAILY_TOKEN_LIMIT and MONTHLY_COST_LIMIT'),
    dailyTokens: z.object({ limit: limitOf, used: z.number().int().min(0).describe('LLM tokens charged today (UTC)') }),
    monthlyCost: z.object({
      limit: limitOf,
      spent: z.number().int().describe('Credits charged this month (UTC), less refunds'),
      held: z.number().int().min(0).describe('Credits held by steps and LLM calls under way; they count against the limit'),
    }),
  }),
  runs: z.object({ active: z.number().int().min(0).describe('Runs going: queued, planning, awaiting approval, running, paused'), allowed: z.number().int().min(1).describe('API_MAX_ACTIVE_RUNS') }),
  breakers: z.array(z.object({
    tool: z.string(), failures: z.number().int().min(0).describe('Failed steps of the tool in a row'),
    open: z.boolean().describe('While open, a step with this tool is refused (BREAKER_*)'), openUntil: z.string().nullable(),
  })).describe('The user\'s tool breakers with failures on record, open ones first'),
}).describe('What a user has and may spend');
const ledgerEntry = z.object({
  id: z.number().int().min(1),
  kind: z.enum(['grant', 'deduct', 'reserve', 'charge', 'release', 'refund']),
  amount: z.number().int().min(0),
  available_delta: z.number().int().describe('How the available balance moved'),
  reserved_delta: z.number().int().describe('How the reserved balance moved'),
  tokens: z.number().int().min(0),
  run_id: z.string().nullable(),
  step_index: z.number().int().nullable(),
  note: z.string().nullable(),
  actor: z.string().nullable().describe('The operator of a grant or deduction'),
  created_at: z.string(),
});
const ledgerPage = z.object({
  entries: z.array(ledgerEntry).describe('Newest first'),
  nextBefore: z.number().int().nullable().describe('`before` of the next page; null on the last'),
});
const adjusted = z.object({ userId: z.string(), amount: z.number().int(), balance, replayed: z.boolean() });

export const ACCOUNT_RESPONSE_SCHEMAS = { Account: account, LedgerEntry: ledgerEntry, LedgerPage: ledgerPage, CreditAdjusted: adjusted };
export const ACCOUNT_REQUEST_SCHEMAS = { CreditAdjustment: adjustBody, LimitsRequest: limitsBody };

const USER_PARAM = pathParam('userId', 'A user id (JWT `sub`): 1-128 letters, digits, `_` or `-`');
const ledgerParameters = () => queryParameters(ledgerQuery, { limit: { description: 'Entries per page' }, before: { description: '`nextBefore` of the previous page' } });

export function accountPaths(): Record<string, JsonObject> {
  return {
    '/v1/me': {
      get: operation({
        id: 'getMe', tag: 'accounts', summary: 'The caller\'s account: balance, limits with what is used, runs going',
        description: 'A caller\'s first request makes them known and grants NEW_USER_CREDITS once.',
        ok: { 200: json(ref('Account'), 'The account') },
      }),
    },
    '/v1/me/ledger': {
      get: operation({ id: 'getMyLedger', tag: 'accounts', summary: 'The caller\'s credit ledger, newest first', parameters: ledgerParameters(), ok: { 200: json(ref('LedgerPage'), 'One page') }, errors: [400] }),
    },
    '/v1/users/{userId}': {
      parameters: [USER_PARAM],
      get: operation({ id: 'getUser', tag: 'accounts', summary: 'A user\'s account (operators)', description: 'A user the API has never seen is 404 `unknown_user`.', ok: { 200: json(ref('Account'), 'The account') }, errors: [400, 403, 404] }),
    },
    '/v1/users/{userId}/ledger': {
      parameters: [USER_PARAM],
      get: operation({ id: 'getUserLedger', tag: 'accounts', summary: 'A user\'s credit ledger (operators)', parameters: ledgerParameters(), ok: { 200: json(ref('LedgerPage'), 'One page') }, errors: [400, 403, 404] }),
    },
    '/v1/users/{userId}/credits': {
      parameters: [USER_PARAM],
      post: operation({
        id: 'adjustCredits', tag: 'accounts', summary: 'Grant (amount > 0) or deduct (amount < 0) credits (operators)',
        description: 'Once per Idempotency-Key (required, scoped to the operator): the same key and body again answer 200 with the first result; the key with another body is 422. The ledger row records the operator and the note. A deduction past the available balance is 409 `insufficient_credits`.',
        parameters: [{ name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string', pattern: IDEMPOTENCY_KEY_RE.source } }],
        body: jsonBody(ref('CreditAdjustment'), true),
        ok: { 201: json(ref('CreditAdjusted'), 'Done'), 200: json(ref('CreditAdjusted'), 'Done before with this key', { 'Idempotent-Replayed': headerRef('Idempotent-Replayed') }) },
        errors: [400, 403, 404, 409, 413, 415, 422],
      }),
    },
    '/v1/users/{userId}/limits': {
      parameters: [USER_PARAM],
      put: operation({
        id: 'setLimits', tag: 'accounts', summary: 'Set a user\'s own limits (operators)',
        description: 'Both limits are named; null is no limit. They replace DAILY_TOKEN_LIMIT and MONTHLY_COST_LIMIT for this user.',
        body: jsonBody(ref('LimitsRequest'), true), ok: { 200: json(ref('Account'), 'The account with its new limits') }, errors: [400, 403, 404, 413, 415],
      }),
      delete: operation({ id: 'clearLimits', tag: 'accounts', summary: 'Remove a user\'s own limits: the defaults apply again (operators)', ok: { 200: json(ref('Account'), 'The account') }, errors: [400, 403, 404] }),
    },
  };
}
