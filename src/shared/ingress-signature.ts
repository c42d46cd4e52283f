/**
 * Signatures of legacy queue entries (HMAC-SHA256 with INGRESS_SIGNING_SECRET). Pure.
 *
 * The signed bytes are exactly the UTF-8 string
 *
 *     agentrun-ingress-v1:<run_id>                 (a producer's entry)
 *     agentrun-ingress-v1:<run_id>:<retry_of>      (an operator's retry of a failed run, written by the API)
 *
 * and `sig` is the HMAC's lowercase hex. Nothing else in an entry is trusted: the run's
 * user, prompt and priority come from its database record, so the signature only has to
 * bind the run id (and the run whose workspace a retry reuses). A producer signs with
 *
 *     printf 'agentrun-ingress-v1:%s' "$RUN_ID" | openssl dgst -sha256 -hmac "$INGRESS_SIGNING_SECRET" -r | cut -c1-64
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const INGRESS_SIGNATURE_VERSION = 'agentrun-ingress-v1';

const SIG_RE = /^[0-9a-f]{64}$/;

/** The exact string an entry's `sig` is the HMAC of. */
export function ingressSigningInput(runId: string, retryOf?: string): string {
  return retryOf === undefined ? `${INGRESS_SIGNATURE_VERSION}:${runId}` : `${INGRESS_SIGNATURE_VERSION}:${runId}:${retryOf}`;
}

/** The `sig` of an entry naming `runId` (and `retryOf`), as lowercase hex. */
export function signIngress(secret: string, runId: string, retryOf?: string): string {
  return createHmac('sha256', secret).update(ingressSigningInput(runId, retryOf), 'utf8').digest('hex');
}

/** Why an entry's signature was refused, or undefined when it is valid. Compares in constant time. */
export function ingressSignatureProblem(secret: string, entry: { run_id: string; retry_of?: string; sig?: unknown }): string | undefined {
  if (entry.sig === undefined) return 'the entry has no "sig" (HMAC-SHA256 of the run id with INGRESS_SIGNING_SECRET; see README "Redis is a transport, never an authority")';
  if (typeof entry.sig !== 'string' || !SIG_RE.test(entry.sig)) return '"sig" must be 64 lowercase hex characters (an HMAC-SHA256)';
  const expected = Buffer.from(signIngress(secret, entry.run_id, entry.retry_of), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(entry.sig, 'hex'))) return `"sig" does not match ${ingressSigningInput(entry.run_id, entry.retry_of)} signed with INGRESS_SIGNING_SECRET`;
  return undefined;
}
