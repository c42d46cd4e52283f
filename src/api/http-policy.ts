/** Response headers every answer carries (security headers), and CORS for an allow-list of browser origins. */
import type { RequestHandler } from 'express';
import { HttpError } from './errors.ts';

/** The API serves JSON, event streams and workspace downloads: nothing a browser should render, frame or sniff. */
export function securityHeaders(): RequestHandler {
  return (_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'; sandbox");
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    res.setHeader('Cache-Control', 'no-store');
    next();
  };
}

export const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Idempotency-Key', 'Last-Event-ID', 'X-API-Key'];
export const CORS_EXPOSED_HEADERS = ['Location', 'Retry-After', 'Idempotent-Replayed', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Content-Disposition'];

/**
 * CORS for the configured origins only (exact match). A preflight from another
 * origin is a 403 naming the origin; a simple request from one gets no CORS
 * headers, so the browser withholds the answer. No cookies are used, so no
 * credentials mode.
 */
export function cors(origins: readonly string[]): RequestHandler {
  const allowed = new Set(origins);
  return (req, res, next) => {
    const origin = req.get('origin');
    if (origin === undefined) {
      next();
      return;
    }
    res.vary('Origin');
    const ok = allowed.has(origin);
    if (ok) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Expose-Headers', CORS_EXPOSED_HEADERS.join(', '));
    }
    if (req.method === 'OPTIONS' && req.get('access-control-request-method') !== undefined) {
      if (!ok) {
        next(new HttpError(403, 'cors_origin_not_allowed', `origin ${origin} is not allowed to call this API (API_CORS_ORIGINS)`));
        return;
      }
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', CORS_ALLOWED_HEADERS.join(', '));
      res.setHeader('Access-Control-Max-Age', '600');
      res.status(204).end();
      return;
    }
    next();
  };
}
