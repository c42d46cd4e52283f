/**
 * The browser tool's only way out: an HTTP forward proxy that applies the egress guard
 * (./egress.ts) to every request a page makes — the page itself, each redirect (the
 * browser follows them, so each is a new request here), every script, image, frame,
 * fetch and WebSocket. Plain HTTP arrives in absolute form and is forwarded to the
 * checked, pinned address; HTTPS and WebSockets arrive as CONNECT host:port and are
 * tunnelled to it (TLS stays end to end, so the browser still checks certificates).
 * A refused request gets a 403 and is recorded with its reason; bytes in answers are
 * counted against a cap for the whole page. It listens on a Unix socket (bound into
 * the browser's jail) or on a loopback port.
 */
import http from 'node:http';
import net from 'node:net';
import { bareHost, checkTarget, EgressRefused, pinnedLookup } from './egress.ts';
import type { EgressPolicy } from './egress.ts';

export interface ProxyRecord {
  /** Requests forwarded or tunnelled. */
  forwarded: number;
  /** Requests refused, in order: the URL (or host:port of a tunnel) and the rule it broke. */
  refused: { url: string; reason: string }[];
  /** Bytes of answers passed to the browser. */
  bytes: number;
}

/** Request headers that belong to the hop to the proxy, not to the request. */
const HOP = ['proxy-connection', 'proxy-authorization', 'connection', 'keep-alive', 'te', 'trailer', 'upgrade'];
/** The header of the proxy's own 403, naming the rule: the browser tool tells a refused page from a page that says 403. */
export const REFUSED_HEADER = 'x-agentrun-egress-refused';
/** Refusals kept per page (the count goes on). */
const MAX_RECORDED = 200;

export class EgressProxy {
  readonly record: ProxyRecord = { forwarded: 0, refused: [], bytes: 0 };
  private readonly server: http.Server;
  private readonly policy: EgressPolicy;
  private readonly maxTotalBytes: number;
  private readonly sockets = new Set<net.Socket>();
  private refusedCount = 0;

  private constructor(policy: EgressPolicy, maxTotalBytes: number) {
    this.policy = policy;
    this.maxTotalBytes = maxTotalBytes;
    this.server = http.createServer((req, res) => void this.forward(req, res));
    this.server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void this.tunnel(req, socket, head));
    this.server.on('connection', (s: net.Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /** Starts a proxy on `at`: a Unix socket path, or a loopback port (0: any free one). */
  static async listen(policy: EgressPolicy, maxTotalBytes: number, at: { socket: string } | { port: number }): Promise<EgressProxy> {
    const p = new EgressProxy(policy, maxTotalBytes);
    await new Promise<void>((resolve, reject) => {
      p.server.once('error', reject);
      if ('socket' in at) p.server.listen(at.socket, resolve);
      else p.server.listen(at.port, '127.0.0.1', resolve);
    });
    return p;
  }

  /** The loopback port it listens on (when listening on one). */
  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  /** Refused requests in all (the record keeps the first MAX_RECORDED). */
  get refusedTotal(): number {
    return this.refusedCount;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private refuse(url: string, reason: string): void {
    this.refusedCount += 1;
    if (this.record.refused.length < MAX_RECORDED) this.record.refused.push({ url: url.slice(0, 500), reason });
  }

  /** Counts answer bytes; false once the page's total is over the cap. */
  private count(n: number): boolean {
    this.record.bytes += n;
    return this.record.bytes <= this.maxTotalBytes;
  }

  private async forward(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = req.url ?? '';
    let target;
    try {
      if (!/^http:\/\//i.test(raw)) throw new EgressRefused(raw, 'not an absolute http:// request');
      target = await checkTarget(raw, this.policy);
    } catch (err) {
      const reason = err instanceof EgressRefused ? err.reason : (err as Error).message;
      this.refuse(raw, reason);
      res.writeHead(403, { 'content-type': 'text/plain', [REFUSED_HEADER]: reason.replace(/[^\x20-\x7e]/g, '?') }).end(`refused by the egress guard: ${reason}\n`);
      return;
    }
    const headers = { ...req.headers };
    for (const h of HOP) delete headers[h];
    const out = http.request({
      hostname: bareHost(target.url), port: target.url.port || 80, path: `${target.url.pathname}${target.url.search}`,
      method: req.method, headers, lookup: pinnedLookup(target) as never, agent: false, timeout: this.policy.timeoutMs,
    }, (answer) => {
      this.record.forwarded += 1;
      const declared = Number(answer.headers['content-length'] ?? 0);
      if (declared > this.policy.maxBytes) {
        this.refuse(raw, `the body is ${declared} bytes, more than FETCH_MAX_BYTES (${this.policy.maxBytes})`);
        answer.destroy();
        res.writeHead(403).end();
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      let size = 0;
      answer.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.policy.maxBytes || !this.count(chunk.length)) {
          this.refuse(raw, size > this.policy.maxBytes ? `the body is more than FETCH_MAX_BYTES (${this.policy.maxBytes}) bytes` : `the page loaded more than ${this.maxTotalBytes} bytes in all`);
          answer.destroy();
          res.destroy();
          return;
        }
        res.write(chunk);
      });
      answer.on('end', () => res.end());
      answer.on('error', () => res.destroy());
    });
    out.on('timeout', () => out.destroy(new Error('timed out')));
    out.on('error', () => { if (!res.headersSent) res.writeHead(502).end(); else res.destroy(); });
    req.pipe(out);
  }

  private async tunnel(req: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    const hostPort = req.url ?? '';
    socket.on('error', () => socket.destroy());
    let target;
    try {
      target = await checkTarget(`https://${hostPort}/`, this.policy);
    } catch (err) {
      this.refuse(`https://${hostPort}`, err instanceof EgressRefused ? err.reason : (err as Error).message);
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const port = Number(target.url.port || 443);
    const upstream = net.connect({ host: target.address, port, timeout: this.policy.timeoutMs });
    this.sockets.add(upstream);
    upstream.on('close', () => { this.sockets.delete(upstream); socket.destroy(); });
    upstream.on('timeout', () => upstream.destroy());
    upstream.on('error', () => { if (!socket.writableEnded) socket.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n'); });
    socket.on('close', () => upstream.destroy());
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      this.record.forwarded += 1;
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.on('data', (chunk: Buffer) => {
        if (!this.count(chunk.length)) {
          this.refuse(`https://${hostPort}`, `the page loaded more than ${this.maxTotalBytes} bytes in all`);
          upstream.destroy();
          return;
        }
        socket.write(chunk);
      });
      socket.pipe(upstream);
    });
  }
}
