/**
 * The images `./dev image` builds, run with podman: the Dockerfile is hadolint clean, the
 * runner image holds only the runner's code and executes a step (no network, read-only
 * root, non-root), the app image's API answers /readyz against the local stack and stops
 * cleanly on SIGTERM, and its worker (prebuilt workflow bundle) completes a run. Skipped,
 * saying so, when podman or the images are absent (run ./dev image first).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadStackContext } from '../../src/dev/context.ts';
import { IMAGES, packageClosure, pruneReplacedImages, RUNNER_EXCLUDED_PACKAGES, runnerSources } from '../../src/dev/image.ts';
import { freeLoopbackPort } from '../../src/infra/free-port.ts';
import { collect, createRun, parse } from '../helpers/runs.ts';
import { podman, podmanEnv, skipWithoutImages } from '../helpers/podman.ts';
import { ROOT, stackEnv, startApi, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';

const ctx = loadStackContext(process.env);
const skip = skipWithoutImages([IMAGES.app, IMAGES.runner], 'run ./dev image first');
const skipBrowser = skipWithoutImages([IMAGES.runnerBrowser], 'run ./dev image first');
const hadolint = join(ctx.paths.tools, 'hadolint', 'bin', 'hadolint');

const containers: string[] = [];
after(() => {
  for (const name of containers) podman(['rm', '-f', '-t', '0', name]);
});

/** Starts a detached container named for this test on the host network with the given env (an env file: values stay off argv). */
function runDetached(image: string, env: Record<string, string>, cmd: string[]): string {
  const name = `agentrun-test-${uniqueQueue('img')}`;
  const dir = mkdtempSync(join(tmpdir(), 'agentrun-img-'));
  const envFile = join(dir, 'env');
  writeFileSync(envFile, Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\n'), { mode: 0o600 });
  const r = podman(['run', '-d', '--name', name, '--network', 'host', '--env-file', envFile, image, ...cmd]);
  rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 0, r.stderr);
  containers.push(name);
  return name;
}
const logs = (name: string) => { const r = podman(['logs', name]); return `${r.stdout}${r.stderr}`; };

describe('images', { skip }, () => {
  it('the Dockerfile is hadolint clean', { skip: existsSync(hadolint) ? false : 'hadolint is not installed (./dev image installs it)' }, () => {
    const r = spawnSync(hadolint, [join(ROOT, 'Dockerfile')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('the runner image holds the runner\'s import closure only: no API, worker, activity or workflow code', () => {
    const { files, packages } = runnerSources();
    assert.ok(files.includes('src/runner/main.ts') && files.includes('src/sandbox/execute.ts'));
    for (const f of files) assert.match(f, /^src\/(runner|sandbox|workspace|shared|infra)\//);
    const lock = (JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, object> }).packages;
    const modules = packageClosure(lock, packages, RUNNER_EXCLUDED_PACKAGES);
    assert.ok(modules.includes('node_modules/@aws-sdk/client-s3') && !modules.some((m) => m.includes('@temporalio') || m.includes('express')), modules.join(' '));
    const r = podman(['run', '--rm', '--network', 'none', IMAGES.runner, 'sh', '-c', 'ls /app/src; ls /app/node_modules; id -u']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n').slice(0, 5), ['infra', 'runner', 'sandbox', 'shared', 'workspace']);
    assert.doesNotMatch(r.stdout, /@temporalio|express|webpack/);
    assert.match(r.stdout, /^65532$/m); // the Job manifest's runAsUser
  });

  it('the runner image refuses a bad phase or request with one line', () => {
    const bad = podman(['run', '--rm', '--network', 'none', IMAGES.runner, 'node', 'src/runner/main.ts', 'bogus']);
    assert.equal(bad.status, 1);
    assert.equal(bad.stderr, 'agentrun-runner: unknown phase "bogus": expected pull, exec or push\n');
    const noRequest = podman(['run', '--rm', '--network', 'none', IMAGES.runner, 'node', 'src/runner/main.ts', 'exec']);
    assert.equal(noRequest.status, 1);
    assert.equal(noRequest.stderr, 'agentrun-runner: AGENTRUN_REQUEST is not set\n');
  });

  it('the runner image executes a step: no network, read-only root, non-root user, outcome in the exchange dir', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentrun-runner-'));
    try {
      for (const d of ['workspace', 'state', 'exchange']) {
        mkdirSync(join(dir, d));
        chmodSync(join(dir, d), 0o777);
      }
      const request = {
        runId: 'run_img', userId: 'u_img', index: 0, workspacePrefix: 'users/u_img/runs/run_img/files/',
        command: { argv: ['sh', '-c', 'echo "hello from $(id -u)" > out.txt && cat out.txt && touch /etc/x 2>/dev/null || echo root is read-only'] },
        limits: { timeoutMs: 30_000, outputMaxBytes: 65_536 },
      };
      const r = podman(['run', '--rm', '--network', 'none', '--read-only', '--user', '65532:65532', '--cap-drop', 'ALL',
        ...['workspace', 'state', 'exchange'].flatMap((d) => ['-v', `${join(dir, d)}:/agentrun/${d}`]),
        '-e', `AGENTRUN_REQUEST=${JSON.stringify(request)}`, IMAGES.runner, 'node', 'src/runner/main.ts', 'exec']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /hello from 65532\nroot is read-only/);
      const outcome = JSON.parse(readFileSync(join(dir, 'exchange', 'outcome.json'), 'utf8')) as { exitCode: number; stdout: string };
      assert.equal(outcome.exitCode, 0);
      assert.equal(readFileSync(join(dir, 'workspace', 'out.txt'), 'utf8'), 'hello from 65532\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the runner image runs an MCP stdio server\'s tool in the workspace copy, with the SDK\'s client and none of its HTTP-server packages', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentrun-mcp-runner-'));
    try {
      for (const d of ['workspace', 'state', 'exchange']) {
        mkdirSync(join(dir, d));
        chmodSync(join(dir, d), 0o777);
      }
      // A stdio server written against the SDK the image carries (CommonJS: required by path).
      writeFileSync(join(dir, 'workspace', 'server.cjs'), [
        "const sdk = (p) => require(`/app/node_modules/@modelcontextprotocol/sdk/dist/cjs/${p}`);",
        "const { z } = require('/app/node_modules/zod');",
        "const fs = require('node:fs');",
        "const server = new (sdk('server/mcp.js').McpServer)({ name: 'image-test', version: '1.0.0' });",
        "server.registerTool('shout', { inputSchema: { file: z.string() } }, async ({ file }) => {",
        "  const text = fs.readFileSync(file, 'utf8').toUpperCase();",
        "  fs.writeFileSync('shouted.txt', text);",
        "  return { content: [{ type: 'text', text }] };",
        "});",
        "void server.connect(new (sdk('server/stdio.js').StdioServerTransport)());",
      ].join('\n'));
      writeFileSync(join(dir, 'workspace', 'note.txt'), 'quiet words');
      const request = {
        runId: 'run_img', userId: 'u_img', index: 0, workspacePrefix: 'users/u_img/runs/run_img/files/',
        command: { mcp: { server: 'img', argv: ['node', 'server.cjs'], workspace: true, call: { tool: 'shout', args: { file: 'note.txt' } }, timeoutMs: 20_000 } },
        limits: { timeoutMs: 60_000, outputMaxBytes: 1 << 20 },
      };
      const r = podman(['run', '--rm', '--network', 'none', '--read-only', '--tmpfs', '/tmp', '--user', '65532:65532', '--cap-drop', 'ALL',
        ...['workspace', 'state', 'exchange'].flatMap((d) => ['-v', `${join(dir, d)}:/agentrun/${d}`]),
        '-e', `AGENTRUN_REQUEST=${JSON.stringify(request)}`, IMAGES.runner, 'node', 'src/runner/main.ts', 'exec']);
      assert.equal(r.status, 0, r.stderr);
      const outcome = JSON.parse(readFileSync(join(dir, 'exchange', 'outcome.json'), 'utf8')) as { stdout: string };
      const report = JSON.parse(outcome.stdout.replace(/^agentrun-mcp-report /, '')) as { result?: { isError: boolean; text: string }; error?: unknown };
      assert.deepEqual(report.result && [report.result.isError, report.result.text], [false, 'QUIET WORDS'], outcome.stdout);
      assert.equal(readFileSync(join(dir, 'workspace', 'shouted.txt'), 'utf8'), 'QUIET WORDS');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the browser runner image opens a page with its Chromium: no network, read-only root, non-root; screenshot, text and report', { skip: skipBrowser }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentrun-browser-runner-'));
    try {
      for (const d of ['workspace', 'state', 'exchange']) {
        mkdirSync(join(dir, d));
        chmodSync(join(dir, d), 0o777);
      }
      const page = '<title>In the image</title><body style="margin:0;background:rgb(0,128,0)"><p>Rendered by the browser runner</p></body>';
      const request = {
        runId: 'run_img', userId: 'u_img', index: 0, workspacePrefix: 'users/u_img/runs/run_img/files/',
        command: { browser: {
          page: { url: `data:text/html,${encodeURIComponent(page)}`, screenshot: true, text: true, timeoutMs: 20_000 },
          files: { screenshot: 'shots/page.png', text: 'page.txt' },
          egress: { allowHosts: [], allowPorts: [80, 443], maxBytes: 1_000_000, timeoutMs: 5000 }, maxPageBytes: 5_000_000, chromium: '/usr/lib/chromium/chromium',
        } },
        limits: { timeoutMs: 60_000, outputMaxBytes: 1 << 20 },
      };
      const r = podman(['run', '--rm', '--network', 'none', '--read-only', '--tmpfs', '/tmp', '--user', '65532:65532', '--cap-drop', 'ALL',
        ...['workspace', 'state', 'exchange'].flatMap((d) => ['-v', `${join(dir, d)}:/agentrun/${d}`]),
        '-e', `AGENTRUN_REQUEST=${JSON.stringify(request)}`, IMAGES.runnerBrowser, 'node', 'src/runner/main.ts', 'exec']);
      assert.equal(r.status, 0, r.stderr);
      const outcome = JSON.parse(readFileSync(join(dir, 'exchange', 'outcome.json'), 'utf8')) as { exitCode: number; stdout: string; stderr: string };
      assert.equal(outcome.exitCode, 0, outcome.stderr);
      const report = JSON.parse(outcome.stdout.replace(/^agentrun-browser-report /, '')) as { title: string; saved: { path: string }[]; text: string };
      assert.equal(report.title, 'In the image');
      assert.match(report.text, /Rendered by the browser runner/);
      assert.deepEqual(report.saved.map((f) => f.path), ['shots/page.png', 'page.txt']);
      assert.deepEqual([...readFileSync(join(dir, 'workspace', 'shots', 'page.png')).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the app image\'s API answers /readyz against the local stack and stops cleanly on SIGTERM (tini forwards it)', async () => {
    const port = await freeLoopbackPort();
    const env = stackEnv();
    const name = runDetached(IMAGES.app, { ...env, API_HOST: '127.0.0.1', API_PORT: String(port), AUTH_JWT_SECRET: env.SUPABASE_JWT_SECRET ?? '' }, []);
    const status = await waitUntil('the API container answers /readyz', async () => {
      const state = podman(['inspect', '-f', '{{.State.Running}}', name]).stdout.trim();
      if (state !== 'true') throw new Error(`the container stopped: ${logs(name)}`);
      const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
      return res?.status;
    }, 90_000);
    assert.equal(status, 200, logs(name));
    const health = podman(['healthcheck', 'run', name]);
    assert.equal(health.status, 0, `HEALTHCHECK: ${health.stdout}${health.stderr}`);
    const stopped = podman(['stop', '-t', '30', name]);
    assert.equal(stopped.status, 0, stopped.stderr);
    assert.equal(podman(['inspect', '-f', '{{.State.ExitCode}}', name]).stdout.trim(), '0', logs(name));
  });

  it('the app image\'s worker, with its prebuilt workflow bundle, completes a run', async () => {
    const taskQueue = uniqueQueue('img');
    const env: Record<string, string> = { ...stackEnv(), TEMPORAL_TASK_QUEUE: taskQueue };
    // The container is the step's jail here (no bubblewrap in the image; in a cluster SANDBOX=kubernetes).
    // No API settings: the image leaves API_HOST to the API's deployment, so the worker starts without auth configured.
    const name = runDetached(IMAGES.app, { ...env, SANDBOX: 'unsafe-host' }, ['node', 'src/worker/main.ts']);
    await waitUntil('the worker container started', () => {
      if (podman(['inspect', '-f', '{{.State.Running}}', name]).stdout.trim() !== 'true') throw new Error(`the worker stopped: ${logs(name)}`);
      return logs(name).includes('"worker started"');
    }, 120_000);
    assert.doesNotMatch(logs(name), /Workflow bundle created|webpack/, 'the worker bundled at start');
    const api = await startApi(env);
    try {
      const runId = await createRun(api.url, 'write_file a.txt x\nshell echo image-run-ok\nread_file a.txt');
      const events = await collect(api.url, runId, { timeoutMs: 120_000 });
      assert.equal(parse(events.at(-1)!).status, 'completed', JSON.stringify(events.slice(-5)));
      assert.ok(events.some((e) => e.data.includes('image-run-ok')), JSON.stringify(events.slice(-10)));
    } finally {
      await stop(api);
    }
    const stopped = podman(['stop', '-t', '30', name]);
    assert.equal(stopped.status, 0, stopped.stderr);
    assert.equal(podman(['inspect', '-f', '{{.State.ExitCode}}', name]).stdout.trim(), '0', logs(name));
  });

  it('a rebuild leaves nothing of the images it replaced; today\'s image and the layers it stands on stay', () => {
    // Three builds as ./dev image makes them (--layers: a kept image per step, our label on
    // each): the second changes the last file, the third both. 274 replaced images once filled a disk.
    const tag = `localhost/agentrun-prune-test:${uniqueQueue('p')}`;
    const dir = mkdtempSync(join(tmpdir(), 'agentrun-prune-'));
    writeFileSync(join(dir, 'Containerfile'), 'ARG BASE_IMAGE\nFROM $BASE_IMAGE\nCOPY a /a\nCOPY b /b\n');
    const parent = (id: string) => podman(['image', 'inspect', '--format', '{{.Parent}}', id]).stdout.trim();
    /** The image's chain, newest first: the label step, COPY b, COPY a. */
    const build = (a: string, b: string): string[] => {
      for (const [f, text] of [['a', a], ['b', b]] as const) {
        if (!existsSync(join(dir, f)) || readFileSync(join(dir, f), 'utf8') !== text) writeFileSync(join(dir, f), text); // unchanged: the cache holds
      }
      const r = spawnSync('buildah', ['bud', '-q', '--isolation', 'chroot', '--pull=never', '--layers', '--format', 'docker', '--build-arg', `BASE_IMAGE=${IMAGES.base}`,
        '--label', 'agentrun.source=prune-test', '-t', tag, '-f', join(dir, 'Containerfile'), dir], { env: podmanEnv(), encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const chain = [r.stdout.trim().split('\n').at(-1)!];
      while (chain.length < 3) chain.push(parent(chain.at(-1)!));
      return chain;
    };
    const exists = (id: string) => podman(['image', 'exists', id]).status === 0;
    try {
      const first = build('1', '1');
      const second = build('1', '2');
      assert.equal(second[2], first[2], 'the second build reuses the first file\'s layer');
      pruneReplacedImages(podmanEnv());
      assert.deepEqual(first.map(exists), [false, false, true], 'the replaced image went; the layer the new one stands on stayed');
      const third = build('2', '3');
      pruneReplacedImages(podmanEnv());
      assert.deepEqual(second.map(exists), [false, false, false], 'the whole replaced chain went');
      assert.deepEqual([...third, IMAGES.base, IMAGES.app, IMAGES.runner].map(exists), [true, true, true, true, true, true]);
    } finally {
      podman(['rmi', tag]);
      pruneReplacedImages(podmanEnv());
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
