/**
 * The web page (src/web): `/` and its assets under `/app/`, with a Content-Security-Policy
 * of their own (scripts and styles from this origin only, no inline script, requests to
 * this origin only) while every API answer keeps `default-src 'none'`. The page's modules
 * and the API client they import (src/client) are TypeScript: each is served as
 * JavaScript with its types stripped (amaro, the stripper Node itself uses), prepared once
 * per process. Only the files present at start are served, by exact name.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'amaro';
import express from 'express';
import type { Response } from 'express';
import { HttpError } from './errors.ts';
import type { Config } from '../shared/config.ts';

const SRC = fileURLToPath(new URL('..', import.meta.url));
/** Folders of src/ the page loads from, and the files each may serve. */
const SERVED = { web: /^[a-z-]+\.(ts|css)$/, client: /^(api|sse|follow|log-lines)\.ts$/ } as const;

export const PAGE_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:",
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

interface Asset { body: Buffer; type: string; etag: string }

function asset(path: string): Asset {
  const text = readFileSync(path, 'utf8');
  const isTs = path.endsWith('.ts');
  const body = Buffer.from(isTs ? transformSync(text, { mode: 'strip-only' }).code : text);
  const type = isTs ? 'text/javascript; charset=utf-8' : path.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/html; charset=utf-8';
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** Every servable asset by its URL path, read and stripped now. */
function loadAssets(): Map<string, Asset> {
  const out = new Map<string, Asset>();
  for (const [dir, allowed] of Object.entries(SERVED)) {
    for (const name of readdirSync(join(SRC, dir))) if (allowed.test(name)) out.set(`/app/${dir}/${name}`, asset(join(SRC, dir, name)));
  }
  out.set('/', asset(join(SRC, 'web', 'index.html')));
  return out;
}

function send(res: Response, a: Asset, ifNoneMatch: string | undefined): void {
  res.setHeader('Content-Security-Policy', PAGE_CSP);
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('ETag', a.etag);
  if (ifNoneMatch === a.etag) {
    res.status(304).end();
    return;
  }
  res.type(a.type).send(a.body);
}

/** `/`, `/app/config.json` and the assets. */
export function webRouter(cfg: { page: Config['api']['page']; authMode: 'jwt' | 'none' }): express.Router {
  const assets = loadAssets();
  const config = JSON.stringify({ temporalUiUrl: cfg.page.temporalUiUrl ?? null, namespace: cfg.page.namespace, authMode: cfg.authMode });
  const r = express.Router();
  r.get('/app/config.json', (_req, res) => { res.type('application/json').send(config); });
  r.get(['/', '/app/web/:file', '/app/client/:file'], (req, res) => {
    const a = assets.get(req.path);
    if (!a) throw new HttpError(404, 'not_found', `no page asset ${req.path}`);
    send(res, a, req.get('if-none-match'));
  });
  return r;
}
