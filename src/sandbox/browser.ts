/**
 * The browser of the `browser` tool: headless Chromium driven by playwright-core over
 * a pipe (no browser download: Debian's `chromium`, BROWSER_PATH).
 *
 * Every request of the page goes through an egress proxy (src/infra/egress-proxy.ts)
 * that applies the fetch_url guard to each one, redirects and subresources included;
 * Chromium is told to send everything there, loopback too, and to resolve no host.
 * Under SANDBOX=local Chromium runs inside a step's bubblewrap jail, whose network
 * namespace holds only its own loopback: the proxy listens on a Unix socket bound into
 * the jail, and a small forwarder inside offers it on the jail's loopback, so even a
 * compromised renderer has no other way out. Under SANDBOX=unsafe-host Chromium is a
 * plain child process and the proxy listens on a loopback port. Chromium gets no
 * environment of the worker's.
 */
import { accessSync, constants } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EgressProxy } from '../infra/egress-proxy.ts';
import type { EgressPolicy } from '../infra/egress.ts';
import { JAIL } from './bwrap.ts';
import { browsePage } from './browse.ts';
import type { PageReport, PageSession, PageSpec } from './browse.ts';
import type { Jail, Jailed } from './jail.ts';

export interface BrowserSession extends PageSession {
  /** Closes the browser, ends its jail and removes its scratch directory; never throws. */
  close(): Promise<void>;
}

/** What the browser tool asks of an executor: one page, its files named. */
export interface BrowseRequest {
  page: PageSpec;
  /** The egress guard for every request of the page, and the page's byte cap. */
  egress: EgressPolicy;
  maxPageBytes: number;
  /** Workspace paths for the screenshot and the text (a pod writes them itself). */
  files: { screenshot?: string; text?: string };
  /** The step: a pod's Job is named by it and works on its workspace. */
  step: { runId: string; userId: string; index: number; workspacePrefix: string };
}

export interface BrowseResult extends PageReport {
  /** Files the executor saved into the workspace itself (a pod); otherwise the caller saves `png` and `text`. */
  saved?: { path: string; bytes: number }[];
}

/** What an executor offers the browser tool: a fresh, isolated browser per step. */
export interface BrowserHost {
  /** `jailed` (SANDBOX=local), `host` (SANDBOX=unsafe-host) or `pod` (a Kubernetes Job). */
  readonly posture: 'jailed' | 'host' | 'pod';
  browse(req: BrowseRequest, signal: AbortSignal): Promise<BrowseResult>;
}

export interface BrowserOpenOptions {
  launchTimeoutMs: number;
  /** The egress guard for every request of the page. */
  egress: EgressPolicy;
  /** Bytes all the page's answers together may bring. */
  maxPageBytes: number;
}

/** How long Chromium may take to start. */
const LAUNCH_TIMEOUT_MS = 30_000;

/** The loopback port of the proxy inside a jail. */
const JAIL_PROXY_PORT = 3128;

/**
 * Flags for every launch: every request to the proxy at `port`, loopback too; no name
 * resolved; and no UDP of WebRTC's, which would go around an HTTP proxy (STUN to any
 * address, internal ones included). A jail's or pod's network stops UDP anyway; a
 * SANDBOX=unsafe-host browser has only this flag (a command-line pref of Chromium's;
 * `--force-webrtc-ip-handling-policy` is content_shell's and Chromium ignores it).
 */
export const chromiumArgs = (port: number) => [
  `--proxy-server=http://127.0.0.1:${port}`, '--proxy-bypass-list=<-loopback>', '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
  '--webrtc-ip-handling-policy=disable_non_proxied_udp',
  '--disable-background-networking', '--disable-component-update', '--disable-domain-reliability', '--disable-sync',
  '--no-first-run', '--no-default-browser-check', '--disable-gpu', '--disable-dev-shm-usage', '--mute-audio', '--disable-breakpad',
];

/**
 * The forwarder inside a jail: the jail's loopback port to the proxy's socket. It marks
 * itself ready with a file, which the jail's shell waits for before starting Chromium.
 */
const FORWARDER = `import net from 'node:net';
import { writeFileSync } from 'node:fs';
const [sock, port] = process.argv.slice(2);
net.createServer((c) => {
  const u = net.connect(sock);
  c.on('error', () => u.destroy()); u.on('error', () => c.destroy());
  c.pipe(u); u.pipe(c);
}).listen(Number(port), '127.0.0.1', () => writeFileSync('/tmp/.egress-ready', ''));
`;

/** The jail's command: the forwarder in the background, then Chromium ("$0") with playwright's flags. */
const JAILED_START = `node ${JAIL.code}/forwarder.mjs ${JAIL.code}/egress.sock ${JAIL_PROXY_PORT} & i=0; while [ ! -e /tmp/.egress-ready ]; do i=$((i+1)); [ $i -gt 500 ] && { echo 'the egress forwarder did not start' >&2; exit 97; }; sleep 0.02; done; exec "$0" "$@"`;

/** Quotes one word for /bin/sh. */
const shQuote = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;

/** Whether `path` is an executable file here (BROWSER_PATH exists). */
export function browserInstalled(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export class ChromiumHost implements BrowserHost {
  readonly posture: 'jailed' | 'host';
  private readonly path: string;
  private readonly jail: Jail | undefined;

  /** `jail` undefined: SANDBOX=unsafe-host, a plain child process. */
  constructor(path: string, jail: Jail | undefined) {
    this.path = path;
    this.jail = jail;
    this.posture = jail ? 'jailed' : 'host';
  }

  /** Only the page and its egress matter here: the caller saves the files (a pod's runner, or the worker). */
  async browse(req: Pick<BrowseRequest, 'page' | 'egress' | 'maxPageBytes'>, signal: AbortSignal): Promise<BrowseResult> {
    const session = await this.open({ launchTimeoutMs: LAUNCH_TIMEOUT_MS, egress: req.egress, maxPageBytes: req.maxPageBytes });
    const onAbort = () => void session.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await browsePage(session, req.page);
    } finally {
      signal.removeEventListener('abort', onAbort);
      await session.close();
    }
  }

  async open(o: BrowserOpenOptions): Promise<BrowserSession> {
    const scratch = await mkdtemp(join(tmpdir(), 'agentrun-browser-'));
    let jailed: Jailed | undefined;
    let proxy: EgressProxy | undefined;
    const cleanUp = async () => {
      await proxy?.close().catch(() => undefined);
      await jailed?.leave().catch(() => undefined);
      await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
    };
    try {
      let executablePath = this.path;
      let port: number;
      if (this.jail) {
        const emptyWorkspace = join(scratch, 'workspace');
        await mkdir(emptyWorkspace);
        const socket = join(scratch, 'egress.sock');
        proxy = await EgressProxy.listen(o.egress, o.maxPageBytes, { socket });
        await chmod(socket, 0o666); // the jail's user connects to it (the scratch directory is not listable)
        await writeFile(join(scratch, 'forwarder.mjs'), FORWARDER, { mode: 0o644 });
        port = JAIL_PROXY_PORT;
        jailed = await this.jail.enter({
          scratch, workspaceDir: emptyWorkspace, browser: true,
          roBinds: [{ host: socket, at: `${JAIL.code}/egress.sock` }, { host: join(scratch, 'forwarder.mjs'), at: `${JAIL.code}/forwarder.mjs` }],
          command: () => ['/bin/sh', '-c', JAILED_START, this.path],
        });
        // playwright-core starts "the browser" with its own flags and talks to it over fds 3 and 4,
        // which bubblewrap passes through: the browser it starts is this script, the jail around Chromium.
        executablePath = join(scratch, 'chromium');
        await writeFile(executablePath, `#!/bin/sh\nexec ${jailed.launchArgv.map(shQuote).join(' ')} "$@"\n`, { mode: 0o700 });
      } else {
        proxy = await EgressProxy.listen(o.egress, o.maxPageBytes, { port: 0 });
        port = proxy.port;
      }
      // Loaded on a browser step's first use: a worker that opens no page never pays for playwright-core.
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({
        executablePath, args: chromiumArgs(port), timeout: o.launchTimeoutMs, chromiumSandbox: false,
        env: { PATH: '/usr/bin:/bin', HOME: join(scratch, 'home'), LANG: 'C.UTF-8', TZ: 'UTC' },
        handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false,
      });
      const record = proxy.record;
      return {
        browser, egress: record,
        close: async () => {
          await browser.close().catch(() => undefined);
          await cleanUp();
        },
      };
    } catch (err) {
      await cleanUp();
      throw err;
    }
  }
}
