/** JWTs the local stack hands out: HS256, signed with the local PostgREST's secret. */
import { SignJWT } from 'jose';

/** A JWT signed with `jwtSecret` (the service role key of the env file, or a user's token). */
export async function mintJwt(jwtSecret: string, claims: Record<string, unknown>, expiresIn = '10y'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setIssuer('agentrun-local')
    .setExpirationTime(expiresIn).sign(new TextEncoder().encode(jwtSecret));
}
