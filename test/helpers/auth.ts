/**
 * Tokens for tests: HS256 JWTs signed with the local stack's JWT secret (the one the
 * test APIs verify with), shaped like Supabase's (aud `authenticated`), and the
 * token of each API a test started, so request helpers can send it.
 */
import { SignJWT } from 'jose';
import { stackEnv } from './stack.ts';

export interface TokenOptions {
  /** Seconds until `exp` (negative: already expired). Default one hour. */
  expiresInS?: number;
  audience?: string | null;
  issuer?: string | null;
  secret?: string;
  alg?: string;
  claims?: Record<string, unknown>;
}

export async function mintToken(sub: string | undefined, opts: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ role: 'authenticated', ...opts.claims }).setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT' })
    .setIssuedAt(now - 10).setExpirationTime(now + (opts.expiresInS ?? 3600));
  if (sub !== undefined) jwt.setSubject(sub);
  if (opts.audience !== null) jwt.setAudience(opts.audience ?? 'authenticated');
  if (opts.issuer !== null && opts.issuer !== undefined) jwt.setIssuer(opts.issuer);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? stackEnv().SUPABASE_JWT_SECRET!));
}

/** An unsigned token (`alg: none`), which must never be accepted. */
export function unsignedToken(sub: string): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub, aud: 'authenticated', exp: now + 3600, iat: now })}.`;
}

const tokens = new Map<string, string>();

/** Remembers the token to send to the API at `url` (startApi does this). */
export function rememberToken(url: string, token: string): void {
  tokens.set(url, token);
}

/** Authorization header for a URL of an API this test started (none for unknown ones). */
export function authHeaders(url: string): Record<string, string> {
  for (const [base, token] of tokens) if (url.startsWith(base)) return { authorization: `Bearer ${token}` };
  return {};
}

/** fetch with the started API's token (unless the request sets its own Authorization). */
export function apiFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has('authorization')) for (const [k, v] of Object.entries(authHeaders(url))) headers.set(k, v);
  return fetch(url, { ...init, headers });
}
