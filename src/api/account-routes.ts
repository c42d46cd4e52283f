/**
 * Accounts over HTTP: GET /v1/me (and its ledger) for every caller, and the operators'
 * /v1/users/{userId} routes (AUTH_OPERATORS): a user's account and ledger, grants and
 * deductions (Idempotency-Key required, a note required, the ledger row names the
 * operator), and a user's own limits set or cleared. Also the middleware that makes a
 * caller known on first sight (NEW_USER_CREDITS).
 */
import express from 'express';
import type { RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { requiredText } from './body-text.ts';
import { actorOf, callerOf, requireOperator } from './auth.ts';
import type { Authenticator } from './auth.ts';
import { HttpError, jsonBody, parseOr400 } from './errors.ts';
import { IDEMPOTENCY_KEY_RE } from './idempotency.ts';
import type { AccountsService } from '../accounts/index.ts';
import { USER_ID_RE } from '../shared/config.ts';

const limit = (max: number) => z.number({ error: `must be a whole number from 1 to ${max}, or null for no limit` }).int().min(1).max(max).nullable();

export const adjustBody = z.object({
  amount: z.number({ error: 'must be a whole number of credits (negative to deduct)' }).int('must be a whole number')
    .min(-1_000_000_000, 'must be at least -1000000000').max(1_000_000_000, 'must be at most 1000000000')
    .refine((n) => n !== 0, 'must not be zero'),
  note: requiredText(500),
}).strict();

export const limitsBody = z.object({
  dailyTokenLimit: limit(1_000_000_000_000),
  monthlyCostLimit: limit(1_000_000_000_000),
}).strict();

export const ledgerQuery = z.object({
  limit: z.coerce.number({ error: 'must be a number from 1 to 200' }).int('must be a whole number').min(1, 'must be at least 1').max(200, 'must be at most 200').default(50),
  before: z.coerce.number({ error: 'must be a ledger entry id' }).int().min(1).optional(),
}).strict();

/** Makes each caller known the first time this process sees them; a database that does not answer does not fail the request (the next one tries again). */
export function seeCaller(accounts: AccountsService, log: Logger): RequestHandler {
  return (_req, res, next) => {
    accounts.seen(callerOf(res).userId).then(() => next(), (err: unknown) => {
      log.warn({ err, userId: callerOf(res).userId }, 'could not record a new user; trying again on their next request');
      next();
    });
  };
}

function userParam(value: string | undefined): string {
  if (value === undefined || !USER_ID_RE.test(value)) throw new HttpError(400, 'invalid_request', 'userId: must be 1-128 letters, digits, _ or -');
  return value;
}

async function ledgerPage(accounts: AccountsService, userId: string, query: unknown, res: Response, operator: boolean) {
  const q = parseOr400(ledgerQuery, query, 'query');
  const { entries, more } = await accounts.ledger(userId, { before: q.before, limit: q.limit }, operator);
  res.json({ entries, nextBefore: more ? entries.at(-1)!.id : null });
}

/** /v1/me: the caller's account and ledger. */
export function meRouter(accounts: AccountsService): express.Router {
  const r = express.Router();
  r.get('/', async (_req, res) => { res.json(await accounts.mine(callerOf(res).userId)); });
  r.get('/ledger', async (req, res) => { await ledgerPage(accounts, callerOf(res).userId, req.query, res, false); });
  return r;
}

/** /v1/users/{userId}: operators only. */
export function usersRouter(accounts: AccountsService, auth: Authenticator): express.Router {
  const r = express.Router();
  r.use(requireOperator(auth));
  r.get('/:userId', async (req, res) => { res.json(await accounts.get(userParam(req.params.userId))); });
  r.get('/:userId/ledger', async (req, res) => { await ledgerPage(accounts, userParam(req.params.userId), req.query, res, true); });
  r.post('/:userId/credits', express.json({ limit: '16kb', strict: false }), async (req, res) => {
    const userId = userParam(req.params.userId);
    const key = req.get('idempotency-key');
    if (key === undefined) throw new HttpError(400, 'invalid_request', 'Idempotency-Key: required, so a retried grant or deduction happens once');
    if (!IDEMPOTENCY_KEY_RE.test(key)) throw new HttpError(400, 'invalid_request', 'Idempotency-Key: must be 1-255 visible ASCII characters');
    const body = parseOr400(adjustBody, jsonBody(req, true), 'body');
    const out = await accounts.adjust(actorOf(callerOf(res)), userId, body.amount, key, body.note);
    if (out.replayed) res.setHeader('Idempotent-Replayed', 'true');
    res.status(out.replayed ? 200 : 201).json({ userId, amount: body.amount, balance: out.balance, replayed: out.replayed });
  });
  r.put('/:userId/limits', express.json({ limit: '16kb', strict: false }), async (req, res) => {
    const userId = userParam(req.params.userId);
    res.json(await accounts.setLimits(userId, parseOr400(limitsBody, jsonBody(req, true), 'body')));
  });
  r.delete('/:userId/limits', async (req, res) => { res.json(await accounts.clearLimits(userParam(req.params.userId))); });
  return r;
}
