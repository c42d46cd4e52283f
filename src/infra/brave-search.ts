/**
 * Brave Search's web search API (GET /res/v1/web/search, `X-Subscription-Token`), the
 * provider of web_search. Its answers are untrusted text: titles and snippets are
 * stripped of markup and capped, URLs kept as given. A 429 or 5xx answer or a network
 * error is `SearchUnavailable` (worth retrying, after the wait Brave asks for: Retry-After,
 * else on a 429 X-RateLimit-Reset); any other refusal (401 bad key, 422 bad query) is
 * `SearchRejected`, not worth retrying.
 */
import { z } from 'zod';

export interface SearchResult { title: string; url: string; snippet: string }
export interface SearchConfig { apiKey: string; baseUrl?: string }

export class SearchRejected extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'SearchRejected';
    this.status = status;
  }
}

export class SearchUnavailable extends Error {
  readonly retryAfterMs?: number;
  constructor(message: string, retryAfterMs?: number) {
    super(message);
    this.name = 'SearchUnavailable';
    this.retryAfterMs = retryAfterMs;
  }
}

const DEFAULT_BASE = 'https://api.search.brave.com';
const TIMEOUT_MS = 15_000;
const answer = z.object({
  web: z.object({ results: z.array(z.object({ title: z.string().default(''), url: z.string(), description: z.string().default('') }).loose()) }).loose().optional(),
}).loose();
const plain = (html: string, max: number) => html.replace(/<[^>]*>/g, '').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').slice(0, max);

const list = (h: string | null) => (h ?? '').split(',').map((x) => x.trim()).filter(Boolean).map(Number);

/**
 * How long Brave asks us to wait (ms), or undefined (then Temporal's backoff): `Retry-After`
 * in seconds or as an HTTP date, else, when `rateLimited` (a 429), Brave's
 * `X-RateLimit-Reset` (seconds until each window's quota resets, e.g. `1, 1419704` for the
 * per-second and the monthly window): the latest reset of the windows
 * `X-RateLimit-Remaining` says are spent, or the shortest window's when it does not say.
 */
export function retryDelayMs(headers: Headers, rateLimited: boolean, now = Date.now()): number | undefined {
  const after = headers.get('retry-after')?.trim();
  if (after) {
    const ms = /^\d+$/.test(after) ? Number(after) * 1000 : Date.parse(after) - now;
    if (Number.isFinite(ms)) return ms > 0 ? ms : undefined;
  }
  if (!rateLimited) return undefined;
  const resets = list(headers.get('x-ratelimit-reset'));
  if (resets.length === 0 || resets.some((n) => !Number.isFinite(n) || n < 0)) return undefined;
  const remaining = list(headers.get('x-ratelimit-remaining'));
  const spent = resets.filter((_, i) => remaining[i] === 0);
  return (spent.length ? Math.max(...spent) : resets[0]!) * 1000;
}

export async function braveSearch(cfg: SearchConfig, query: string, count: number, signal?: AbortSignal): Promise<SearchResult[]> {
  const url = new URL('/res/v1/web/search', cfg.baseUrl ?? DEFAULT_BASE);
  url.searchParams.set('q', query);
  url.searchParams.set('count', String(count));
  const timeout = AbortSignal.timeout(TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: 'application/json', 'x-subscription-token': cfg.apiKey }, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
  } catch (err) {
    throw new SearchUnavailable(`Brave Search did not answer: ${(err as Error).message}`);
  }
  if (res.status === 429 || res.status >= 500) {
    const after = retryDelayMs(res.headers, res.status === 429);
    await res.body?.cancel();
    throw new SearchUnavailable(`Brave Search answered ${res.status}${after === undefined ? '' : ` (try again in ${Math.ceil(after / 1000)} s)`}`, after);
  }
  if (!res.ok) {
    const text = (await res.text().catch(() => '')).slice(0, 300);
    throw new SearchRejected(res.status, `Brave Search refused the query (${res.status})${text ? `: ${plain(text, 300)}` : ''}`);
  }
  const parsed = answer.safeParse(await res.json().catch(() => undefined));
  if (!parsed.success) throw new SearchUnavailable('Brave Search answered something that is not a web search result');
  return (parsed.data.web?.results ?? []).slice(0, count).map((r) => ({ title: plain(r.title, 300), url: r.url.slice(0, 2048), snippet: plain(r.description, 1000) }));
}
