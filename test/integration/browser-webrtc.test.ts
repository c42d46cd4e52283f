/**
 * WebRTC cannot go around the browser's egress proxy: a page's RTCPeerConnection asks a
 * STUN server on a local UDP port (an internal address a prompt-injected page might probe).
 * Chromium as the browser tool starts it (src/sandbox/browser.ts, here as SANDBOX=unsafe-host
 * runs it: no jail, so only its flags stand in the way) sends that port nothing; the same
 * Chromium without the WebRTC flag does send to it, so the test can tell.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import type { Page } from 'playwright-core';
import { chromiumArgs, ChromiumHost } from '../../src/sandbox/browser.ts';
import { testConfig, waitUntil } from '../helpers/stack.ts';

const POLICY = { allowHosts: [], allowPorts: [80, 443], maxBytes: 1_000_000, timeoutMs: 5000 };

/** Starts ICE gathering against a STUN server at 127.0.0.1:`port`; resolves with the candidates once gathering completes. */
const gather = (page: Page, port: number) => page.evaluate(async (stunPort) => {
  const pc = new RTCPeerConnection({ iceServers: [{ urls: `stun:127.0.0.1:${stunPort}` }] });
  pc.createDataChannel('probe');
  const candidates: string[] = [];
  const done = new Promise<void>((resolve) => {
    pc.onicecandidate = (e) => { if (e.candidate) candidates.push(e.candidate.candidate); else resolve(); };
  });
  await pc.setLocalDescription(await pc.createOffer());
  await done;
  pc.close();
  return candidates;
}, port);

describe('WebRTC and the browser tool\'s Chromium', () => {
  const path = testConfig().tools.browser.path;
  let udp: Socket;
  let port = 0;
  let packets = 0;

  before(async () => {
    udp = createSocket('udp4');
    udp.on('message', () => { packets += 1; });
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    port = udp.address().port;
  });
  after(() => udp.close());

  it('a page\'s STUN request never leaves Chromium as the tool starts it (unsafe-host posture)', async () => {
    const session = await new ChromiumHost(path, undefined).open({ launchTimeoutMs: 30_000, egress: POLICY, maxPageBytes: 1_000_000 });
    try {
      const page = await (await session.browser.newContext()).newPage();
      packets = 0;
      const candidates = await gather(page, port);
      assert.deepEqual(candidates.filter((c) => / udp /i.test(c)), [], 'no UDP candidate');
      assert.equal(packets, 0, 'the STUN port heard nothing');
    } finally {
      await session.close();
    }
  });

  it('the same Chromium without the WebRTC flag does send to it (the attack the flag stops)', async () => {
    const args = chromiumArgs(1).filter((a) => !a.startsWith('--webrtc-ip-handling-policy'));
    assert.equal(args.length, chromiumArgs(1).length - 1);
    const browser = await chromium.launch({ executablePath: path, args, chromiumSandbox: false, timeout: 30_000 });
    try {
      const page = await browser.newPage();
      packets = 0;
      void gather(page, port).catch(() => undefined);
      await waitUntil('a STUN packet at the local UDP port', () => packets > 0, 30_000);
    } finally {
      await browser.close();
    }
  });
});
