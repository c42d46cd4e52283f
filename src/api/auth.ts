/**
 * Who is calling: a bearer JWT (HS256 with a shared secret, e.g. Supabase's, or
 * asymmetric keys from a JWKS URL), a static API key of a service caller, or —
 * with AUTH_MODE=none, the laptop demo — DEFAULT_USER_ID for everyone.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTVerifyGetKey } from 'jose';
import { HttpError } from './errors.ts';
import { Unavailable } from '../runs/errors.ts';
import { USER_ID_RE } from '../shared/config.ts';
import type { AuthConfig } from '../shared/config.ts';

export interface Caller {
  userId: string;
  via: 'jwt' | 'api_key' | 'none';
  /** When the credential stops being valid (ms since the epoch); streams end then. */
  expiresAtMs?: number;
}

/** The caller as the audit trail names them (src/runs/audit.ts). */
export function actorOf(caller: Caller): { id: string; kind: Caller['via'] } {
  return { id: caller.userId, kind: caller.via };
}

/** Algorithms accepted per key source. `none` is never accepted, nor HS* when keys come from a JWKS. */
export const HMAC_ALGORITHMS = ['HS256'];
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export const API_KEY_PREFIX = 'ak_';

/** 401 with a `WWW-Authenticate` challenge (RFC 6750). */
export class UnauthorizedError extends HttpError {
  constructor(code: 'missing_credentials' | 'invalid_token' | 'invalid_api_key', message: string) {
    super(401, code, message, undefined, {
      'WWW-Authenticate': code === 'missing_credentials' ? 'Bearer realm="agentrun"' : `Bearer realm="agentrun", error="invalid_token", error_description=${JSON.stringify(message.replace(/["\\]/g, ''))}`,
    });
    this.name = 'UnauthorizedError';
  }
}

export class Authenticator {
  private readonly cfg: AuthConfig;
  private readonly key: Uint8Array | JWTVerifyGetKey | undefined;
  private readonly keyHashes: { userId: string; hash: Buffer }[];

  constructor(cfg: AuthConfig) {
    this.cfg = cfg;
    if (cfg.mode === 'jwt' && cfg.jwt) {
      this.key = cfg.jwt.kind === 'secret'
        ? new TextEncoder().encode(cfg.jwt.secret)
        : createRemoteJWKSet(new URL(cfg.jwt.url), { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
    }
    this.keyHashes = cfg.mode === 'jwt' ? cfg.apiKeys.map((k) => ({ userId: k.userId, hash: Buffer.from(k.sha256, 'hex') })) : [];
  }

  get mode(): AuthConfig['mode'] {
    return this.cfg.mode;
  }

  /** May this caller use the operator routes? Everyone with AUTH_MODE=none (the laptop), else AUTH_OPERATORS. */
  isOperator(caller: Caller): boolean {
    return this.cfg.mode === 'none' || this.cfg.operators.includes(caller.userId);
  }

  /** The caller of a request, or an UnauthorizedError naming what is wrong. */
  async authenticate(credential: string | undefined, apiKeyHeader: string | undefined): Promise<Caller> {
    if (this.cfg.mode === 'none') return { userId: this.cfg.userId, via: 'none' };
    if (apiKeyHeader !== undefined) return this.apiKey(apiKeyHeader);
    if (credential === undefined) throw new UnauthorizedError('missing_credentials', 'authentication required: send Authorization: Bearer <token>');
    if (credential.startsWith(API_KEY_PREFIX)) return this.apiKey(credential);
    return this.jwt(credential);
  }

  private apiKey(key: string): Caller {
    if (this.keyHashes.length === 0) throw new UnauthorizedError('invalid_api_key', 'API keys are not accepted here');
    const hash = createHash('sha256').update(key).digest();
    // Compare against every entry, in constant time each, so timing says nothing about which matched.
    let owner: string | undefined;
    for (const k of this.keyHashes) if (timingSafeEqual(hash, k.hash) && owner === undefined) owner = k.userId;
    if (owner === undefined) throw new UnauthorizedError('invalid_api_key', 'unknown API key');
    return { userId: owner, via: 'api_key' };
  }

  private async jwt(token: string): Promise<Caller> {
    const cfg = this.cfg as Extract<AuthConfig, { mode: 'jwt' }>;
    if (!this.key || !cfg.jwt) throw new UnauthorizedError('invalid_token', 'only API keys are accepted here');
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/.test(token)) throw new UnauthorizedError('invalid_token', 'malformed token: not a JWT');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.key as Uint8Array, {
        algorithms: cfg.jwt.kind === 'secret' ? HMAC_ALGORITHMS : ASYMMETRIC_ALGORITHMS,
        issuer: cfg.issuer,
        audience: cfg.audience,
        clockTolerance: cfg.clockSkewS,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      throw jwtFailure(err);
    }
    const sub = payload.sub!;
    if (!USER_ID_RE.test(sub)) throw new UnauthorizedError('invalid_token', 'token subject (sub) is not a valid user id');
    return { userId: sub, via: 'jwt', expiresAtMs: payload.exp! * 1000 };
  }
}

function jwtFailure(err: unknown): HttpError | Unavailable {
  if (err instanceof joseErrors.JWTExpired) return new UnauthorizedError('invalid_token', 'token expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const what: Record<string, string> = { aud: 'audience (aud)', iss: 'issuer (iss)', nbf: 'not-before (nbf)', sub: 'subject (sub)', exp: 'expiry (exp)' };
    const claim = what[err.claim] ?? err.claim;
    return new UnauthorizedError('invalid_token', err.reason === 'missing' ? `token has no ${claim} claim` : `token ${claim} is not accepted here`);
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) {
    return new UnauthorizedError('invalid_token', 'token algorithm is not accepted here');
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new UnauthorizedError('invalid_token', 'token signature is invalid');
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new UnauthorizedError('invalid_token', 'token was not signed by a key of the issuer');
  }
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) return new Unavailable('the token issuer (JWKS)', err);
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return new UnauthorizedError('invalid_token', `malformed token: ${err.message}`);
  if (err instanceof joseErrors.JOSEError) return new UnauthorizedError('invalid_token', 'token is not valid');
  // Anything else is the JWKS endpoint being unreachable.
  return new Unavailable('the token issuer (JWKS)', err);
}

function bearer(req: Request): string | undefined {
  const h = req.get('authorization');
  if (h === undefined) return undefined;
  const m = /^Bearer +(\S+) *$/i.exec(h);
  if (!m) throw new UnauthorizedError('invalid_token', 'malformed Authorization header: expected "Bearer <token>"');
  return m[1];
}

/** Routes whose clients (browser EventSource) cannot send headers: they may pass `?access_token=`. */
const STREAM_PATH = /\/(events|stream)$/;

/** Authenticates every request; the caller is then `callerOf(res)`. */
export function requireCaller(auth: Authenticator): RequestHandler {
  return (req, res, next) => {
    let credential: string | undefined;
    try {
      credential = bearer(req);
    } catch (err) {
      next(err);
      return;
    }
    if (credential === undefined && req.method === 'GET' && STREAM_PATH.test(req.path) && typeof req.query.access_token === 'string') {
      credential = req.query.access_token;
    }
    auth.authenticate(credential, req.get('x-api-key')).then((caller) => {
      res.locals.caller = caller;
      next();
    }, next);
  };
}

/** After requireCaller: 403 unless the caller is an operator (AUTH_OPERATORS). */
export function requireOperator(auth: Authenticator): RequestHandler {
  return (_req, res, next) => {
    next(auth.isOperator(callerOf(res)) ? undefined : new HttpError(403, 'forbidden', 'operator routes need an operator (a user id listed in AUTH_OPERATORS)'));
  };
}

export function callerOf(res: Response): Caller {
  const caller = res.locals.caller as Caller | undefined;
  if (!caller) throw new Error('route mounted without requireCaller');
  return caller;
}
