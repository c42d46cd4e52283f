/**
 * Outbound HTTP for what a run asks to fetch (fetch_url). The URL is untrusted (a
 * prompt-injected model may write it), so before any byte leaves:
 * - only http and https, no credentials in the URL, only the allowed ports;
 * - the host is resolved once and every address it resolves to must be public unicast
 *   (ipaddr.js's ranges: loopback, private, link-local and 169.254.169.254, CGNAT,
 *   multicast, unspecified, reserved, ULA, and every IPv6 form embedding an IPv4
 *   address: mapped, compatible, NAT64, 6to4, Teredo); the connection goes to that
 *   checked address (a pinned lookup), so a second resolution cannot rebind it;
 * - every redirect (at most 5) is checked the same way before it is followed;
 * - the body is capped in size, the whole fetch in time (FetchTimedOut: retried, unlike a
 *   refusal), and the content type checked.
 * `allowHosts` (FETCH_ALLOW_HOSTS: exact host:port) lets tests and private deployments
 * reach named internal services; nothing else is exempt. The browser tool's proxy
 * (./egress-proxy.ts) applies the same checks to every request of a page.
 */
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import ipaddr from 'ipaddr.js';

export interface EgressPolicy { allowHosts: readonly string[]; allowPorts: readonly number[]; maxBytes: number; timeoutMs: number }

export const MAX_REDIRECTS = 5;
/** What a fetch may bring back: text and a few document and image types. */
const CONTENT_TYPES = [/^text\//, /^application\/(json|xml|xhtml\+xml|pdf|ld\+json|rss\+xml|atom\+xml)$/, /^image\/(png|jpeg|gif|webp)$/];

/** A fetch the policy refuses; `reason` says which rule. Never worth retrying. */
export class EgressRefused extends Error {
  readonly reason: string;
  constructor(url: string, reason: string) {
    super(`fetch of ${url.slice(0, 200)} refused: ${reason}`);
    this.name = 'EgressRefused';
    this.reason = reason;
  }
}

/** A fetch that took longer than its policy's `timeoutMs` (FETCH_TIMEOUT_MS): the site's trouble, worth another try. */
export class FetchTimedOut extends Error {
  constructor(url: string, timeoutMs: number) {
    super(`no complete answer from ${url.slice(0, 200)} within FETCH_TIMEOUT_MS (${timeoutMs} ms)`);
    this.name = 'FetchTimedOut';
  }
}

/** ::/96, the deprecated IPv4-compatible form (RFC 4291 2.5.5.1), which ipaddr.js counts as unicast. */
const IPV4_COMPATIBLE = ipaddr.IPv6.parse('::');

/**
 * Why an address may not be reached (its ipaddr.js range), or undefined for public unicast.
 * IPv6 forms that embed an IPv4 address are all refused: mapped (::ffff:0:0/96) by the
 * address inside, IPv4-compatible (::/96) here, NAT64 (64:ff9b::/96, 64:ff9b:1::/48),
 * SIIT, 6to4 and Teredo by their ipaddr.js ranges whatever they embed.
 */
export function addressRefusal(address: string): string | undefined {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  let ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv6') {
    const v6 = ip as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) ip = v6.toIPv4Address();
    else if (v6.range() === 'unicast' && v6.match(IPV4_COMPATIBLE, 96)) {
      return `${v6.toString()} is an ipv4Compatible address (of ${ipaddr.fromByteArray(v6.toByteArray().slice(12)).toString()})`;
    }
  }
  const range = ip.range();
  return range === 'unicast' ? undefined : `${ip.toString()} is a ${range} address`;
}

export interface Target { url: URL; address: string; family: 4 | 6 }

/** A URL's host without the brackets of an IPv6 literal. */
export const bareHost = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/** How a host name is resolved (all its addresses); tests give their own. */
export type Resolve = (host: string) => Promise<{ address: string; family: number }[]>;
const resolveAll: Resolve = (host) => lookup(host, { all: true, verbatim: true });

/** Checks `raw` against the policy and resolves its host once; the address to connect to, or EgressRefused. */
export async function checkTarget(raw: string, policy: EgressPolicy, resolve: Resolve = resolveAll): Promise<Target> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new EgressRefused(raw, 'not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new EgressRefused(raw, `the ${url.protocol.replace(/:$/, '')} scheme is not allowed (http and https only)`);
  if (url.username || url.password) throw new EgressRefused(raw, 'credentials in a URL are not allowed');
  const host = bareHost(url).toLowerCase();
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const exempt = policy.allowHosts.includes(`${url.hostname.toLowerCase()}:${port}`);
  if (!exempt && !policy.allowPorts.includes(port)) throw new EgressRefused(raw, `port ${port} is not allowed (${policy.allowPorts.join(', ')})`);
  let addresses: { address: string; family: number }[];
  if (ipaddr.isValid(host)) addresses = [{ address: host, family: host.includes(':') ? 6 : 4 }];
  else {
    try {
      addresses = await resolve(host);
    } catch (err) {
      throw new EgressRefused(raw, `${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  if (addresses.length === 0) throw new EgressRefused(raw, `${host} does not resolve`);
  if (!exempt) {
    for (const a of addresses) {
      const why = addressRefusal(a.address);
      if (why) throw new EgressRefused(raw, addresses.length === 1 && a.address === host ? why : `${host} resolves to ${why}`);
    }
  }
  return { url, address: addresses[0]!.address, family: addresses[0]!.family === 6 ? 6 : 4 };
}

export interface Fetched { finalUrl: string; status: number; contentType: string; body: Buffer; redirects: string[] }

/** A `lookup` for node:http/net that answers the target's checked address, whatever the name. */
export function pinnedLookup(t: Pick<Target, 'address' | 'family'>) {
  return (_host: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) =>
    (opts.all ? cb(null, [{ address: t.address, family: t.family }]) : cb(null, t.address, t.family));
}

/** One GET to a checked target, connecting to its pinned address; resolves at the response head. */
function request(t: Target, signal: AbortSignal): Promise<http.IncomingMessage> {
  const pinned = pinnedLookup(t);
  const mod = t.url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request({
      protocol: t.url.protocol, hostname: bareHost(t.url), port: t.url.port || undefined,
      path: `${t.url.pathname}${t.url.search}`, method: 'GET', lookup: pinned as never, signal, agent: false,
      headers: { 'user-agent': 'agentrun-fetch/1', accept: '*/*', 'accept-encoding': 'identity' },
    }, resolve);
    req.on('error', reject);
    req.end();
  });
}

/** Reads a response body, refusing (EgressRefused) one larger than `maxBytes`. */
async function readCapped(res: http.IncomingMessage, raw: string, maxBytes: number): Promise<Buffer> {
  const declared = Number(res.headers['content-length'] ?? 0);
  if (declared > maxBytes) {
    res.destroy();
    throw new EgressRefused(raw, `the body is ${declared} bytes, more than FETCH_MAX_BYTES (${maxBytes})`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      res.destroy();
      throw new EgressRefused(raw, `the body is more than FETCH_MAX_BYTES (${maxBytes}) bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * GETs `raw` under the policy: each hop checked, the body capped; EgressRefused for what the
 * policy forbids, FetchTimedOut past its time limit. `resolve` is for tests.
 */
export async function guardedGet(raw: string, policy: EgressPolicy, outer?: AbortSignal, resolve: Resolve = resolveAll): Promise<Fetched> {
  const timeout = AbortSignal.timeout(policy.timeoutMs);
  const signal = outer ? AbortSignal.any([outer, timeout]) : timeout;
  try {
    return await follow(raw, policy, signal, resolve);
  } catch (err) {
    if (timeout.aborted && !(err instanceof EgressRefused) && !outer?.aborted) throw new FetchTimedOut(raw, policy.timeoutMs);
    throw err;
  }
}

async function follow(raw: string, policy: EgressPolicy, signal: AbortSignal, resolve: Resolve): Promise<Fetched> {
  const redirects: string[] = [];
  let current = raw;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
    const target = await checkTarget(current, policy, resolve);
    const res = await request(target, signal);
    const location = res.headers.location;
    if (res.statusCode !== undefined && res.statusCode >= 300 && res.statusCode < 400 && location) {
      res.resume();
      current = new URL(location, target.url).href;
      redirects.push(current);
      continue;
    }
    const contentType = (res.headers['content-type'] ?? 'application/octet-stream').split(';')[0]!.trim().toLowerCase();
    if ((res.statusCode ?? 0) < 400 && !CONTENT_TYPES.some((re) => re.test(contentType))) {
      res.destroy();
      throw new EgressRefused(raw, `content type ${contentType} is not fetched (text, JSON, XML, PDF and common images are)`);
    }
    const body = await readCapped(res, raw, policy.maxBytes);
    return { finalUrl: target.url.href, status: res.statusCode ?? 0, contentType, body, redirects };
  }
  throw new EgressRefused(raw, `more than ${MAX_REDIRECTS} redirects`);
}
