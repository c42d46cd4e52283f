/**
 * A typed client of agentrun's public HTTP API (the one the CLI, the demo and scripts use;
 * no back doors). Every answer other than 2xx becomes an ApiError carrying the API's JSON
 * error (`code`, `message`, `details`), its status and Retry-After; a network failure is
 * an ApiError with status 0 and code `unreachable`. The token is asked for on every
 * request, so a refreshed one (a new `agentrun login`) is used at once.
 */
import { readSse } from './sse.ts';
import type { SseMessage } from './sse.ts';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details?: unknown;
  readonly retryAfterS?: number;
  constructor(status: number, code: string, message: string, details?: unknown, retryAfterS?: number) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfterS = retryAfterS;
  }
}

/** The ApiError of a non-2xx answer: the API's JSON error when it sent one, else its status. */
function apiErrorOf(status: number, text: string, headers: Headers | undefined, what: string): ApiError {
  let error: { code?: string; message?: string; details?: unknown } = {};
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error ?? {};
  } catch { /* not JSON: the status says it */ }
  const retryAfter = Number(headers?.get('retry-after'));
  return new ApiError(status, error.code ?? `http_${status}`, error.message ?? (text.slice(0, 200) || `${what} answered ${status}`),
    error.details, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
}

export type TokenSource = () => string | undefined;

export interface RunStart {
  prompt: string;
  requireApproval?: boolean;
  priority?: number;
  budget?: number;
  workspaceId?: string;
}

export interface StepResultView { index: number; planIndex?: number; tool: string; ok: boolean; summary: string; durationMs: number; exitCode?: number }
export interface RunView {
  id: string; userId: string; status: string; plan?: { steps: Record<string, unknown>[] } & Record<string, unknown>;
  steps: StepResultView[]; currentStep?: number; error?: { code: string; message: string }; usage: { credits: number };
  createdAt: string; closedAt?: string;
}
export interface RunSummary { id: string; status: string; priority: number; promptPreview: string; usage: { credits: number }; createdAt: string }
export interface WorkspaceFile { path: string; size: number; lastModified: string; etag: string; contentType: string }
export interface Account {
  userId: string; balance: { available: number; reserved: number };
  limits: { source: string; dailyTokens: { limit: number | null; used: number }; monthlyCost: { limit: number | null; spent: number; held: number } };
  runs: { active: number; allowed: number };
  /** The tool breakers with failures on record (open ones first). */
  breakers?: { tool: string; failures: number; open: boolean; openUntil: string | null }[];
}
export interface QueueStats { queues: Record<string, { count: number; oldestAgeS: number | null }>; at: string }
/** A user's breaker for one tool as operators see it (GET /v1/queue/breakers). */
export interface Breaker { userId: string; tool: string; failures: number; opens: number; open: boolean; openUntil: string | null }

export class ApiClient {
  readonly url: string;
  private readonly token: TokenSource;
  constructor(url: string, token: TokenSource = () => undefined) {
    this.url = url.replace(/\/+$/, '');
    this.token = token;
  }

  /** The token requests are sent with now. */
  tokenNow(): string | undefined {
    return this.token();
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const token = this.token();
    return { ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra };
  }

  /** The raw answer of `method path` (2xx), or an ApiError. */
  async fetch(method: string, path: string, init: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
    const headers = this.headers(init.headers);
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, { method, headers, body: init.body === undefined ? undefined : JSON.stringify(init.body), signal: init.signal });
    } catch (err) {
      if (init.signal?.aborted) throw err;
      throw new ApiError(0, 'unreachable', `cannot reach the API at ${this.url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
    }
    if (res.ok) return res;
    throw apiErrorOf(res.status, await res.text().catch(() => ''), res.headers, `${method} ${path}`);
  }

  async json<T>(method: string, path: string, init: { body?: unknown; headers?: Record<string, string> } = {}): Promise<T> {
    return (await (await this.fetch(method, path, init)).json()) as T;
  }

  startRun(req: RunStart, idempotencyKey?: string): Promise<{ id: string; status: string }> {
    return this.json('POST', '/v1/runs', { body: req, headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {} });
  }
  forkRun(id: string, req: { fromStep: number; requireApproval?: boolean; priority?: number; budget?: number }): Promise<{ id: string; status: string; forkOf: { runId: string; step: number } }> {
    return this.json('POST', `/v1/runs/${encodeURIComponent(id)}/fork`, { body: req });
  }
  getRun(id: string): Promise<RunView> {
    return this.json('GET', `/v1/runs/${encodeURIComponent(id)}`);
  }
  listRuns(q: { status?: string; limit?: number; cursor?: string }): Promise<{ runs: RunSummary[]; nextCursor: string | null }> {
    const params = new URLSearchParams();
    if (q.status) params.set('status', q.status);
    if (q.limit) params.set('limit', String(q.limit));
    if (q.cursor) params.set('cursor', q.cursor);
    const qs = params.toString();
    return this.json('GET', `/v1/runs${qs ? `?${qs}` : ''}`);
  }
  control(id: string, action: 'cancel' | 'pause' | 'resume' | 'approve' | 'messages', body?: unknown): Promise<{ id: string; status: string }> {
    return this.json('POST', `/v1/runs/${encodeURIComponent(id)}/${action}`, { body: body ?? {} });
  }
  listFiles(id: string, cursor?: string): Promise<{ workspaceId: string; files: WorkspaceFile[]; nextCursor?: string | null }> {
    return this.json('GET', `/v1/runs/${encodeURIComponent(id)}/files${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`);
  }
  file(id: string, path: string): Promise<Response> {
    return this.fetch('GET', `/v1/runs/${encodeURIComponent(id)}/files/${path.split('/').map(encodeURIComponent).join('/')}`);
  }
  me(): Promise<Account> {
    return this.json('GET', '/v1/me');
  }
  queue(): Promise<QueueStats> {
    return this.json('GET', '/v1/queue');
  }
  /** Every user's tool breakers with failures on record, open ones first (operators). */
  breakers(): Promise<{ breakers: Breaker[] }> {
    return this.json('GET', '/v1/queue/breakers');
  }
  resetBreaker(userId: string, tool: string): Promise<{ userId: string; tool: string; reset: true }> {
    return this.json('DELETE', `/v1/queue/breakers/${encodeURIComponent(userId)}/${encodeURIComponent(tool)}`);
  }
  adjustCredits(userId: string, amount: number, note: string, idempotencyKey: string): Promise<{ userId: string; amount: number; balance: Account['balance']; replayed: boolean }> {
    return this.json('POST', `/v1/users/${encodeURIComponent(userId)}/credits`, { body: { amount, note }, headers: { 'idempotency-key': idempotencyKey } });
  }

  /** One connection to a run's event stream (see follow.ts for reconnects). A refused connection is an ApiError. */
  async *events(id: string, opts: { lastEventId?: string; signal?: AbortSignal; onComment?: (text: string) => void } = {}): AsyncGenerator<SseMessage> {
    try {
      yield* readSse(`${this.url}/v1/runs/${encodeURIComponent(id)}/events`, { ...opts, headers: this.headers() });
    } catch (err) {
      const refused = err as { status?: number; body?: string; headers?: Headers };
      if (refused.status === undefined) throw err;
      throw apiErrorOf(refused.status, refused.body ?? '', refused.headers, 'the event stream');
    }
  }
}
