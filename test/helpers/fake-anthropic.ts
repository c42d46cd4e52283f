/**
 * A local HTTP server that speaks the Anthropic Messages API (the one stand-in
 * allowed: no machine here can reach the real API). It checks requests the way
 * the API does (headers, body shape), answers with scripted replies in the API's
 * formats (`tool_use` content, `usage`, error bodies, `request-id` and
 * `retry-after` headers), and records every request for assertions.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
  /** Hold the answer this long (to test cancellation and timeouts). */
  delayMs?: number;
}
export type Script = Reply | ((req: RecordedRequest) => Reply);

export interface RecordedRequest {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: {
    model?: string; max_tokens?: number; system?: unknown; tools?: { name: string; input_schema: unknown; cache_control?: unknown }[];
    tool_choice?: { type: string; name?: string }; messages?: { role: string; content: unknown }[];
  };
}

export interface Usage { input_tokens: number; output_tokens: number; cache_creation_input_tokens?: number; cache_read_input_tokens?: number }

const id = (p: string) => `${p}_${randomBytes(12).toString('hex')}`;

/** A successful reply that calls `tool` with `input`. */
export function toolUse(tool: string, input: unknown, usage: Usage = { input_tokens: 400, output_tokens: 100 }): Reply {
  return {
    status: 200,
    body: {
      id: id('msg'), type: 'message', role: 'assistant', model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: 'Here you go.' }, { type: 'tool_use', id: id('toolu'), name: tool, input }],
      stop_reason: 'tool_use', stop_sequence: null,
      usage: { cache_creation_input_tokens: 0, cache_read_input_tokens: 0, ...usage },
    },
  };
}

/** A text-only reply (a model that did not call the tool). */
export function textOnly(text: string): Reply {
  return {
    status: 200,
    body: {
      id: id('msg'), type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [{ type: 'text', text }],
      stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 50, output_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    },
  };
}

/** An API error in the documented shape. */
export function apiError(status: number, type: string, message: string, headers: Record<string, string> = {}): Reply {
  return { status, headers, body: { type: 'error', error: { type, message } } };
}

export class FakeAnthropic {
  readonly requests: RecordedRequest[] = [];
  private readonly script: Script[] = [];
  private server: Server | undefined;
  readonly apiKey = `sk-ant-test-${randomBytes(8).toString('hex')}`;
  url = '';

  /** Queues replies, answered in order (one per request). */
  push(...replies: Script[]): void {
    this.script.push(...replies);
  }

  get pending(): number {
    return this.script.length;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d: Buffer) => { raw += d.toString(); });
      req.on('end', () => {
        const send = (r: Reply) => {
          const write = () => {
            if (res.destroyed) return;
            res.writeHead(r.status, { 'content-type': 'application/json', 'request-id': id('req'), ...r.headers });
            res.end(JSON.stringify(r.body));
          };
          if (r.delayMs) setTimeout(write, r.delayMs);
          else write();
        };
        if (req.method !== 'POST' || req.url?.split('?')[0] !== '/v1/messages') {
          send(apiError(404, 'not_found_error', `Not Found: ${req.method} ${req.url}`));
          return;
        }
        // The API takes the key as x-api-key or as a bearer token (newer SDKs send the latter).
        const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        if ((req.headers['x-api-key'] ?? bearer) !== this.apiKey) {
          send(apiError(401, 'authentication_error', 'invalid x-api-key'));
          return;
        }
        if (!req.headers['anthropic-version']) {
          send(apiError(400, 'invalid_request_error', 'anthropic-version: header is required'));
          return;
        }
        let body: RecordedRequest['body'];
        try {
          body = JSON.parse(raw) as RecordedRequest['body'];
        } catch {
          send(apiError(400, 'invalid_request_error', 'body is not valid JSON'));
          return;
        }
        const problem = typeof body.model !== 'string' ? 'model: Field required'
          : !Number.isInteger(body.max_tokens) ? 'max_tokens: Field required'
          : !Array.isArray(body.messages) || body.messages.length === 0 ? 'messages: at least one message is required'
          : body.messages.some((m) => m.role !== 'user' && m.role !== 'assistant') ? 'messages: roles must be user or assistant'
          : body.tool_choice?.type === 'tool' && !body.tools?.some((t) => t.name === body.tool_choice!.name) ? 'tool_choice: tool not found in tools'
          : undefined;
        if (problem) {
          send(apiError(400, 'invalid_request_error', problem));
          return;
        }
        const recorded: RecordedRequest = { at: Date.now(), path: req.url, headers: req.headers, body };
        this.requests.push(recorded);
        const next = this.script.shift();
        if (!next) {
          send(apiError(500, 'api_error', 'fake-anthropic: no scripted reply left'));
          return;
        }
        send(typeof next === 'function' ? next(recorded) : next);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
