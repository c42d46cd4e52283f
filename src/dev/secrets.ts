/**
 * The local stack's generated secrets: created once, kept in <data>/stack/secrets.json
 * (mode 0600, never committed: .data is git-ignored), and reused on every later run so
 * an existing .data/ keeps working. A secret missing from an older file is added.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackContext } from './context.ts';

export interface Secrets {
  minioUser: string; minioPassword: string; pgPassword: string; authenticatorPassword: string; jwtSecret: string;
  /** Redis: the `default` (admin) user's password, agentrun's ACL user's, and the legacy ingress's HMAC key. */
  redisAdminPassword: string; redisPassword: string; ingressSigningSecret: string;
}

/** The secrets, generating (and saving) any that are missing. */
export function secrets(ctx: StackContext): Secrets {
  const file = join(ctx.paths.state, 'secrets.json');
  const old = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<Secrets>) : {};
  if (old.minioUser && old.minioPassword && old.pgPassword && old.authenticatorPassword && old.jwtSecret
    && old.redisAdminPassword && old.redisPassword && old.ingressSigningSecret) return old as Secrets;
  const s: Secrets = {
    minioUser: `agentrun-${randomBytes(4).toString('hex')}`,
    minioPassword: randomBytes(24).toString('base64url'),
    pgPassword: randomBytes(24).toString('base64url'),
    authenticatorPassword: randomBytes(24).toString('base64url'),
    jwtSecret: randomBytes(36).toString('base64url'),
    redisAdminPassword: randomBytes(24).toString('base64url'),
    redisPassword: randomBytes(24).toString('base64url'),
    ingressSigningSecret: randomBytes(32).toString('base64url'),
    ...old,
  };
  writeFileSync(file, JSON.stringify(s), { mode: 0o600 });
  return s;
}
