/**
 * The egress guard of fetch_url (src/infra/egress.ts), against hostile URLs: every form of
 * an internal address (decimal, octal, hex and short IPv4; IPv4-mapped, -compatible,
 * SIIT, NAT64, 6to4 and Teredo IPv6; names resolving to loopback), the metadata address, private, CGNAT, multicast,
 * ULA and link-local ranges, other schemes, credentials and ports. Each is refused with
 * its reason, before any connection; a public address and an allow-listed host:port pass.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressRefusal, checkTarget, EgressRefused } from '../../src/infra/egress.ts';

const POLICY = { allowHosts: ['127.0.0.1:18999'], allowPorts: [80, 443], maxBytes: 1024, timeoutMs: 1000 };

const HOSTILE: [string, RegExp][] = [
  ['http://127.0.0.1/', /127\.0\.0\.1 is a loopback address/],
  ['http://2130706433/', /127\.0\.0\.1 is a loopback address/],
  ['http://0177.0.0.1/', /127\.0\.0\.1 is a loopback address/],
  ['http://0x7f.0.0.1/', /127\.0\.0\.1 is a loopback address/],
  ['http://0x7f000001/', /127\.0\.0\.1 is a loopback address/],
  ['http://127.1/', /127\.0\.0\.1 is a loopback address/],
  ['http://[::1]/', /::1 is a loopback address/],
  ['http://[::ffff:127.0.0.1]/', /127\.0\.0\.1 is a loopback address/],
  ['http://[0:0:0:0:0:ffff:7f00:1]/', /127\.0\.0\.1 is a loopback address/],
  ['http://localhost/', /localhost resolves to .* loopback address/],
  ['http://LOCALHOST./', /loopback address|does not resolve/],
  ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a linkLocal address/],
  ['http://[::ffff:169.254.169.254]/', /169\.254\.169\.254 is a linkLocal address/],
  ['http://[fe80::1]/', /linkLocal address/],
  ['http://10.0.0.1/', /private address/],
  ['http://172.16.5.4/', /private address/],
  ['http://192.168.1.1/', /private address/],
  ['http://100.64.0.1/', /carrierGradeNat address/],
  ['http://224.0.0.1/', /multicast address/],
  ['http://[ff02::1]/', /multicast address/],
  ['http://0.0.0.0/', /unspecified address/],
  ['http://[::]/', /unspecified address/],
  ['http://255.255.255.255/', /broadcast address/],
  ['http://[fc00::1]/', /uniqueLocal address/],
  ['http://[fd12:3456::1]/', /uniqueLocal address/],
  ['http://[64:ff9b::7f00:1]/', /rfc6052 address/],
  ['http://[2002:7f00:1::]/', /6to4 address/],
  ['http://[2002:c0a8:101::1]/', /6to4 address/],
  ['http://[64:ff9b::10.0.0.1]/', /rfc6052 address/],
  ['http://[64:ff9b:1::a00:1]/', /rfc6052 address/],
  ['http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', /teredo address/],
  ['http://[::ffff:0:7f00:1]/', /rfc6145 address/],
  ['http://[::127.0.0.1]/', /::7f00:1 is an ipv4Compatible address \(of 127\.0\.0\.1\)/],
  ['http://[::7f00:1]/', /ipv4Compatible address \(of 127\.0\.0\.1\)/],
  ['http://[0:0:0:0:0:0:10.0.0.1]/', /ipv4Compatible address \(of 10\.0\.0\.1\)/],
  ['http://[::169.254.169.254]/', /ipv4Compatible address \(of 169\.254\.169\.254\)/],
  ['http://[::8.8.8.8]/', /ipv4Compatible address \(of 8\.8\.8\.8\)/],
  ['http://192.0.2.1/', /reserved address/],
  ['file:///etc/passwd', /the file scheme is not allowed/],
  ['ftp://example.com/x', /the ftp scheme is not allowed/],
  ['gopher://example.com/', /the gopher scheme is not allowed/],
  ['data:text/plain,hi', /the data scheme is not allowed/],
  ['javascript:alert(1)', /the javascript scheme is not allowed/],
  ['http://user:pass@8.8.8.8/', /credentials in a URL are not allowed/],
  ['http://8.8.8.8@127.0.0.1/', /credentials in a URL are not allowed/],
  ['http://8.8.8.8:6379/', /port 6379 is not allowed/],
  ['http://example.com:22/', /port 22 is not allowed/],
  ['http://127.0.0.1:18998/', /port 18998 is not allowed/],
  ['not a url', /not a URL/],
  ['http://no-such-host.invalid/', /does not resolve/],
];

describe('the egress guard of fetch_url', () => {
  for (const [url, reason] of HOSTILE) {
    it(`refuses ${url}`, async () => {
      await assert.rejects(checkTarget(url, POLICY), (err: unknown) => err instanceof EgressRefused && reason.test(err.reason) || assert.fail(`${url}: ${String(err)}`));
    });
  }

  it('has at least 30 hostile URLs', () => assert.ok(HOSTILE.length >= 30));

  it('refuses a DNS name other than localhost that resolves to loopback, or to an IPv6 form embedding it', async () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '::ffff:127.0.0.1', '::7f00:1', '64:ff9b::7f00:1']) {
      const resolve = async () => [{ address, family: address.includes(':') ? 6 : 4 }];
      await assert.rejects(checkTarget('http://innocent.example.org/', POLICY, resolve),
        (err: unknown) => err instanceof EgressRefused && /^innocent\.example\.org resolves to .*(loopback|ipv4Compatible|rfc6052) address/.test(err.reason) || assert.fail(`${address}: ${String(err)}`));
    }
  });

  it('refuses a name when any address it resolves to is internal, and resolves it once', async () => {
    let calls = 0;
    const resolve = async () => { calls += 1; return [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.7', family: 4 }]; };
    await assert.rejects(checkTarget('https://mixed.example/', POLICY, resolve), (err: unknown) => err instanceof EgressRefused && /mixed\.example resolves to 10\.0\.0\.7 is a private address/.test(err.reason));
    assert.equal(calls, 1);
  });

  it('passes a public address (to be connected to as checked) and an allow-listed host:port', async () => {
    assert.deepEqual({ ...(await checkTarget('https://8.8.8.8/dns?q=1', POLICY)), url: undefined }, { url: undefined, address: '8.8.8.8', family: 4 });
    const named = await checkTarget('http://public.example/', POLICY, async () => [{ address: '2001:4860:4860::8888', family: 6 }]);
    assert.deepEqual([named.address, named.family], ['2001:4860:4860::8888', 6]);
    assert.equal((await checkTarget('http://127.0.0.1:18999/page', POLICY)).address, '127.0.0.1');
    assert.equal(addressRefusal('8.8.4.4'), undefined);
  });
});
