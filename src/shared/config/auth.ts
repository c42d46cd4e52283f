/** The authentication rules: which AUTH_* combinations are valid, and the AuthConfig they describe. */
import { ConfigError } from './parse.ts';
import type { AuthConfig } from './types.ts';
import type { RawConfig } from './vars.ts';

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

export function authConfig(c: RawConfig): AuthConfig {
  const set = [c.AUTH_JWT_SECRET && 'AUTH_JWT_SECRET', c.AUTH_JWKS_URL && 'AUTH_JWKS_URL', c.AUTH_API_KEYS && 'AUTH_API_KEYS'].filter((x): x is string => Boolean(x));
  const mode = c.AUTH_MODE ?? (set.length > 0 ? 'jwt' : 'none');
  if (mode === 'none') {
    if (set.length > 0) throw new ConfigError(`invalid configuration: AUTH_MODE=none but ${set.join(' and ')} ${set.length > 1 ? 'are' : 'is'} set (unset ${set.length > 1 ? 'them' : 'it'}, or use AUTH_MODE=jwt)`);
    if (c.AUTH_MODE === undefined && !LOOPBACK.test(c.API_HOST)) {
      throw new ConfigError(`invalid configuration: no authentication is configured and API_HOST=${c.API_HOST} is not a loopback address: set AUTH_JWT_SECRET or AUTH_JWKS_URL (and/or AUTH_API_KEYS), or listen on a loopback address`);
    }
    if (!LOOPBACK.test(c.API_HOST)) {
      throw new ConfigError(`invalid configuration: AUTH_MODE=none serves every request as DEFAULT_USER_ID, which is only allowed on a loopback address, and API_HOST=${c.API_HOST} is not one: listen on 127.0.0.1, or set AUTH_JWT_SECRET or AUTH_JWKS_URL (and/or AUTH_API_KEYS) with AUTH_MODE=jwt`);
    }
    return { mode: 'none', userId: c.DEFAULT_USER_ID };
  }
  if (c.AUTH_JWT_SECRET && c.AUTH_JWKS_URL) throw new ConfigError('invalid configuration: AUTH_JWT_SECRET and AUTH_JWKS_URL are both set (a token issuer signs with one or the other; set one)');
  if (set.length === 0) throw new ConfigError('invalid configuration: AUTH_MODE=jwt needs AUTH_JWT_SECRET or AUTH_JWKS_URL (and/or AUTH_API_KEYS)');
  const apiKeys = (c.AUTH_API_KEYS ?? '').split(',').filter(Boolean).map((pair) => {
    const colon = pair.lastIndexOf(':');
    return { userId: pair.slice(0, colon), sha256: pair.slice(colon + 1) };
  });
  const jwt = c.AUTH_JWT_SECRET ? { kind: 'secret' as const, secret: c.AUTH_JWT_SECRET }
    : c.AUTH_JWKS_URL ? { kind: 'jwks' as const, url: c.AUTH_JWKS_URL } : undefined;
  return { mode: 'jwt', jwt, issuer: c.AUTH_ISSUER, audience: c.AUTH_AUDIENCE.split(','), clockSkewS: c.AUTH_CLOCK_SKEW_S, apiKeys, operators: (c.AUTH_OPERATORS ?? '').split(',').filter(Boolean) };
}
