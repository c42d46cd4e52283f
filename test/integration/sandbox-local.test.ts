/**
 * The sandbox's command semantics against the real MinIO (no S3 mocks): the
 * local executor (pull → command → conditional push), the runner entrypoint as
 * a Job would run it (three separate processes, credentials only in pull and
 * push), and whole runs through the real worker with SANDBOX=local (started
 * on Temporal directly, as the API does, so these tests do not depend on it).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { runningWith } from '../helpers/procs.ts';
import { mkdir, mkdtemp, rm, writeFile as writeLocal } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { connectClients, newUser, ROOT, stackEnv, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';
import { newRunId } from '../../src/runs/ids.ts';
import { createLogger } from '../../src/infra/logger.ts';
import { createExecutor } from '../../src/sandbox/index.ts';
import type { Executor, SandboxContext, SandboxRequest, SandboxResult } from '../../src/sandbox/types.ts';
import { redisKeys, s3Keys, WORKFLOW_TYPE } from '../../src/shared/names.ts';
import type { RunInput } from '../../src/shared/run.ts';
import { searchAttributes } from '../../src/workflows/definitions.ts';
import { WorkspaceConflictError } from '../../src/workspace/errors.ts';
import { WorkspaceStore } from '../../src/workspace/store.ts';

/** A `sleep` whose command line is unique to this call (`sleep 30.NNNNN`), and that marker. */
const markedSleep = () => {
  const m = `30.${String(Math.floor(Math.random() * 1e5)).padStart(5, '0')}1`;
  return { cmd: `sleep ${m}`, marker: `sleep\0${m}` };
};

for (const kind of ['local', 'unsafe-host'] as const) describe(`${kind === 'local' ? 'local (bubblewrap)' : 'unsafe-host'} sandbox executor on MinIO`, () => {
  let c: Clients;
  let exec: Executor;
  const user = 'sandbox-user';
  const bucket = () => c.config.s3.bucket;

  const newRequest = (command: SandboxRequest['command'], over: Partial<SandboxRequest> = {}): SandboxRequest => {
    const runId = newRunId();
    return {
      runId, userId: user, index: 0, workspacePrefix: s3Keys.workspaceFiles(user, runId), command, env: { RUN: runId },
      limits: { timeoutMs: 20_000, outputMaxBytes: 64 * 1024 }, ...over,
    };
  };
  const put = (req: SandboxRequest, path: string, body: string) =>
    c.s3.send(new PutObjectCommand({ Bucket: bucket(), Key: req.workspacePrefix + path, Body: body }));
  const get = async (req: SandboxRequest, path: string): Promise<string | undefined> => {
    try {
      return await (await c.s3.send(new GetObjectCommand({ Bucket: bucket(), Key: req.workspacePrefix + path }))).Body!.transformToString();
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw err;
    }
  };
  const list = async (req: SandboxRequest): Promise<string[]> =>
    ((await c.s3.send(new ListObjectsV2Command({ Bucket: bucket(), Prefix: req.workspacePrefix }))).Contents ?? [])
      .map((o) => o.Key!.slice(req.workspacePrefix.length)).sort();
  const run = (req: SandboxRequest, ctx: Partial<SandboxContext> = {}): Promise<SandboxResult> =>
    exec.run(req, { signal: new AbortController().signal, ...ctx });
  const sorted = (r: SandboxResult) => [...r.changedFiles].sort((a, b) => a.path.localeCompare(b.path));

  before(async () => {
    c = await connectClients();
    exec = await createExecutor({ ...c.config, sandbox: kind === 'local' ? c.config.sandbox : { kind } }, new WorkspaceStore({ s3: c.s3, bucket: bucket(), fileMaxBytes: c.config.workspace.fileMaxBytes }), createLogger('silent', 'test'));
    assert.equal(exec.kind, kind);
  });
  after(async () => {
    await c?.close();
  });

  it('runs the command in the pulled workspace and pushes back what it added, changed and deleted', async () => {
    const req = newRequest({ argv: ['sh', '-c', 'cat notes/in.txt; echo " and more" >> notes/in.txt; mkdir -p out && printf new > out/b.json; rm gone.txt'] });
    await put(req, 'notes/in.txt', 'hello');
    await put(req, 'keep.txt', 'untouched');
    await put(req, 'gone.txt', 'bye');
    const r = await run(req);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, 'hello');
    assert.equal(r.timedOut, false);
    assert.deepEqual(sorted(r), [
      { path: 'gone.txt', change: 'deleted', bytes: 0 },
      { path: 'notes/in.txt', change: 'modified', bytes: 15 },
      { path: 'out/b.json', change: 'added', bytes: 3 },
    ]);
    assert.deepEqual(r.skippedFiles, []);
    assert.deepEqual(await list(req), ['keep.txt', 'notes/in.txt', 'out/b.json']);
    assert.equal(await get(req, 'notes/in.txt'), 'hello and more\n');
    assert.equal(await get(req, 'out/b.json'), 'new');
    const head = await c.s3.send(new HeadObjectCommand({ Bucket: bucket(), Key: `${req.workspacePrefix}out/b.json` }));
    assert.equal(head.ContentType, 'application/json; charset=utf-8');
  });

  it('reports a failing command as a result, and still pushes its files', async () => {
    const req = newRequest({ argv: ['sh', '-c', 'echo partial > p.txt; echo oops >&2; exit 3'] });
    const r = await run(req);
    assert.equal(r.exitCode, 3);
    assert.equal(r.stderr, 'oops\n');
    assert.deepEqual(r.changedFiles, [{ path: 'p.txt', change: 'added', bytes: 8 }]);
    const missing = await run(newRequest({ argv: ['no-such-command-anywhere'] }));
    assert.equal(missing.exitCode, 127);
    assert.match(missing.spawnError ?? '', /ENOENT/);
    // An argument no process can receive is a failed start, not a crashed activity.
    const nul = await run(newRequest({ argv: ['echo', 'a\0b'] }));
    assert.equal(nul.exitCode, 127);
    assert.match(nul.spawnError ?? '', /ERR_INVALID_ARG_VALUE/);
  });

  it('skips and reports symbolic links and unsafe names, and keeps a pulled file the command turned into a link', async () => {
    const req = newRequest({ argv: ['sh', '-c', [
      'ln -s /etc/passwd passwd-link',
      'mkdir d && ln -s / d/root',
      'printf x > "back\\\\slash.txt"',
      'printf y > "pct%2e.txt"',
      'rm was-file.txt && ln -s keep.txt was-file.txt',
      'printf ok > fine.txt',
    ].join(' && ')] });
    await put(req, 'was-file.txt', 'original');
    await put(req, 'keep.txt', 'k');
    const r = await run(req);
    assert.equal(r.exitCode, 0, r.stderr);
    const skipped = new Map(r.skippedFiles.map((s) => [s.path, s.reason]));
    assert.equal(skipped.get('passwd-link'), 'symbolic link');
    assert.equal(skipped.get('d/root'), 'symbolic link');
    assert.equal(skipped.get('was-file.txt'), 'symbolic link');
    assert.ok(skipped.has('back\\slash.txt'), JSON.stringify(r.skippedFiles));
    assert.ok(skipped.has('pct%2e.txt'), JSON.stringify(r.skippedFiles));
    assert.deepEqual(r.changedFiles, [{ path: 'fine.txt', change: 'added', bytes: 2 }]);
    assert.deepEqual(await list(req), ['fine.txt', 'keep.txt', 'was-file.txt']);
    assert.equal(await get(req, 'was-file.txt'), 'original');
  });

  it('runs code in python, node and bash, in the workspace', async () => {
    const py = newRequest({ code: { language: 'python', source: 'import json\nd = json.load(open("in.json"))\nopen("py.txt", "w").write(str(d["n"] * 7))\nprint("py", d["n"] * 7)\n' } });
    await put(py, 'in.json', '{"n": 6}');
    const rp = await run(py);
    assert.equal(rp.exitCode, 0, rp.stderr);
    assert.equal(rp.stdout, 'py 42\n');
    assert.equal(await get(py, 'py.txt'), '42');
    assert.deepEqual(rp.changedFiles, [{ path: 'py.txt', change: 'added', bytes: 2 }]);

    const js = newRequest({ code: { language: 'node', source: 'import { readFileSync, writeFileSync } from "node:fs";\nconst s = readFileSync("a.txt", "utf8");\nwriteFileSync("a.txt", s.toUpperCase());\nconsole.log(typeof process.version);\n' } });
    await put(js, 'a.txt', 'shout');
    const rj = await run(js);
    assert.equal(rj.exitCode, 0, rj.stderr);
    assert.equal(rj.stdout, 'string\n');
    assert.equal(await get(js, 'a.txt'), 'SHOUT');

    const sh = newRequest({ code: { language: 'bash', source: 'set -euo pipefail\nwords=(a b c)\necho "${#words[@]}" > n.txt\n' } });
    const rs = await run(sh);
    assert.equal(rs.exitCode, 0, rs.stderr);
    assert.equal(await get(sh, 'n.txt'), '3\n');

    const bad = await run(newRequest({ code: { language: 'python', source: 'raise SystemExit(5)' } }));
    assert.equal(bad.exitCode, 5);
    // The code file lives outside the workspace: it is never pushed.
    assert.deepEqual(bad.changedFiles, []);
  });

  it('kills the whole process group at the time limit', async () => {
    const bg = markedSleep();
    const req = newRequest({ argv: ['sh', '-c', `${bg.cmd} & echo started; sleep 30`] }, { limits: { timeoutMs: 700, outputMaxBytes: 1024 } });
    const t0 = Date.now();
    const r = await run(req);
    assert.equal(r.timedOut, true);
    assert.equal(r.exitCode, null);
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(r.stdout, 'started\n');
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
    await waitUntil(`background ${bg.cmd} gone`, () => runningWith(bg.marker).length === 0, 5000);
  });

  it('leaves nothing of a finished command running, and does not wait on a descendant that escaped its group', async () => {
    const nohup = markedSleep();
    const r = await run(newRequest({ argv: ['sh', '-c', `nohup ${nohup.cmd} >/dev/null 2>&1 &`] }));
    assert.equal(r.exitCode, 0, r.stderr);
    await waitUntil(`background ${nohup.cmd} gone`, () => runningWith(nohup.marker).length === 0, 5000);

    const esc = markedSleep();
    const escaped = newRequest({ argv: ['sh', '-c', `setsid ${esc.cmd} & echo done`] }, { limits: { timeoutMs: 60_000, outputMaxBytes: 1024 } });
    const t0 = Date.now();
    const re = await run(escaped);
    try {
      assert.equal(re.exitCode, 0);
      assert.equal(re.stdout, 'done\n');
      assert.ok(Date.now() - t0 < 10_000, `a setsid descendant holding the pipes kept the step for ${Date.now() - t0} ms`);
      // In a jail the step's pid namespace ends with it, so even a new session is gone.
      if (kind === 'local') await waitUntil(`setsid ${esc.cmd} gone`, () => runningWith(esc.marker).length === 0, 5000);
    } finally {
      for (const pid of runningWith(esc.marker)) process.kill(pid, 'SIGKILL');
    }
  });

  it('caps captured output and the live log at outputMaxBytes', async () => {
    const lines: string[] = [];
    const req = newRequest({ argv: ['sh', '-c', 'i=0; while [ $i -lt 5000 ]; do echo "line $i"; i=$((i+1)); done; echo end >&2'] }, { limits: { timeoutMs: 20_000, outputMaxBytes: 1024 } });
    const r = await run(req, { onLine: (stream, line) => { if (stream === 'stdout') lines.push(line); } });
    assert.equal(r.exitCode, 0);
    assert.equal(r.truncated, true);
    assert.equal(Buffer.byteLength(r.stdout), 1024);
    assert.ok(r.stdout.startsWith('line 0\nline 1\n'));
    assert.equal(r.stderr, 'end\n');
    assert.ok(lines.length > 50 && lines.length < 400, `${lines.length} live lines`);
  });

  it('gives the command only allow-listed variables plus its own env, and a HOME outside the workspace', async () => {
    process.env.S3_SECRET_ACCESS_KEY = c.config.s3.secretAccessKey;
    process.env.AGENTRUN_TEST_SECRET = 'must-not-leak';
    try {
      const req = newRequest({ argv: ['sh', '-c', 'env; touch "$HOME/cache-file" "$TMPDIR/tmp-file"; pwd > cwd.txt'] }, { env: { GREETING: 'grüezi' } });
      const r = await run(req);
      assert.equal(r.exitCode, 0, r.stderr);
      const env = new Map(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      assert.equal(env.get('GREETING'), 'grüezi');
      assert.ok(env.has('PATH'));
      for (const name of env.keys()) assert.ok(['PATH', 'LANG', 'LC_ALL', 'TZ', 'HOME', 'TMPDIR', 'GREETING', 'PWD', 'SHLVL', '_', 'OLDPWD'].includes(name), `unexpected variable ${name}`);
      assert.ok(!r.stdout.includes(c.config.s3.secretAccessKey));
      assert.ok(!r.stdout.includes('must-not-leak'));
      // HOME and TMPDIR are scratch space, not the workspace: nothing written there is pushed.
      assert.deepEqual(r.changedFiles.map((f) => f.path), ['cwd.txt']);
      assert.notEqual(env.get('HOME'), (await get(req, 'cwd.txt'))!.trim());
    } finally {
      delete process.env.S3_SECRET_ACCESS_KEY;
      delete process.env.AGENTRUN_TEST_SECRET;
    }
  });

  it('stops the command when cancelled and pushes nothing', async () => {
    const ac = new AbortController();
    const req = newRequest({ argv: ['sh', '-c', 'echo half > half.txt; echo started; sleep 30'] });
    const t0 = Date.now();
    await assert.rejects(run(req, {
      signal: ac.signal,
      onLine: (_s, line) => { if (line === 'started') ac.abort(new Error('step cancelled')); },
    }), /step cancelled/);
    assert.ok(Date.now() - t0 < 10_000);
    assert.deepEqual(await list(req), []);
    // Already cancelled: nothing starts.
    await assert.rejects(run(newRequest({ argv: ['true'] }), { signal: AbortSignal.abort(new Error('gone before start')) }), /gone before start/);
  });

  /**
   * Runs `script` (which says `waiting`, then waits for `.go`); `meanwhile` changes S3 before it is released.
   * The command's workspace copy is found on the host by the `.wait-<runId>` file it made there.
   */
  async function raceWith(req: SandboxRequest, meanwhile: () => Promise<unknown>): Promise<SandboxResult> {
    let released: Promise<void> | undefined;
    const result = run(req, {
      onLine: (_s, line) => {
        if (line !== 'waiting') return;
        const dir = readdirSync(tmpdir()).filter((d) => d.startsWith('agentrun-exec-')).map((d) => join(tmpdir(), d, 'workspace'))
          .find((d) => existsSync(join(d, `.wait-${req.runId}`)));
        assert.ok(dir, 'the command\'s workspace copy');
        released = meanwhile().then(() => writeLocal(join(dir, '.go'), ''));
      },
    });
    try {
      return await result;
    } finally {
      await released;
    }
  }
  const waitForGo = 'touch ".wait-$RUN"; echo waiting; while [ ! -e .go ]; do sleep 0.02; done; rm .go ".wait-$RUN"';

  it('refuses to overwrite a file changed in S3 while the command ran (WorkspaceConflictError); the newer content stays', async () => {
    const req = newRequest({ argv: ['sh', '-c', `echo mine > a.txt; ${waitForGo}`] });
    await put(req, 'a.txt', 'original');
    await assert.rejects(raceWith(req, () => put(req, 'a.txt', 'theirs')), (e: unknown) => {
      assert.ok(e instanceof WorkspaceConflictError, String(e));
      assert.equal(e.path, 'a.txt');
      return true;
    });
    assert.equal(await get(req, 'a.txt'), 'theirs');

    // A file the command created that someone else created meanwhile.
    const created = newRequest({ argv: ['sh', '-c', `echo mine > new.txt; ${waitForGo}`] });
    await assert.rejects(raceWith(created, () => put(created, 'new.txt', 'first')), WorkspaceConflictError);
    assert.equal(await get(created, 'new.txt'), 'first');

    // A file the command deleted that someone else changed meanwhile.
    const deleted = newRequest({ argv: ['sh', '-c', `rm d.txt; ${waitForGo}`] });
    await put(deleted, 'd.txt', 'v1');
    await assert.rejects(raceWith(deleted, () => put(deleted, 'd.txt', 'v2')), WorkspaceConflictError);
    assert.equal(await get(deleted, 'd.txt'), 'v2');
  });

  it('counts a concurrent write of the very same content, or a concurrent delete, as no conflict', async () => {
    const req = newRequest({ argv: ['sh', '-c', `printf same > s.txt; rm d.txt; ${waitForGo}`] });
    await put(req, 'd.txt', 'x');
    const r = await raceWith(req, async () => {
      await put(req, 's.txt', 'same');
      await c.s3.send(new DeleteObjectCommand({ Bucket: bucket(), Key: `${req.workspacePrefix}d.txt` }));
    });
    assert.deepEqual(sorted(r).map((f) => `${f.change} ${f.path}`), ['deleted d.txt', 'added s.txt']);
    assert.deepEqual(await list(req), ['s.txt']);
  });
});

describe('runner entrypoint (node src/runner/main.ts pull|exec|push), as a Job runs it', () => {
  let c: Clients;
  let stack: Record<string, string>;
  let scratch: string;
  const user = 'runner-user';

  before(async () => {
    c = await connectClients();
    stack = stackEnv();
    scratch = await mkdtemp(join(tmpdir(), 'agentrun-runner-test-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
    await c?.close();
  });

  interface Ran { code: number | null; stdout: string; stderr: string }
  function runner(args: string[], env: Record<string, string>): Promise<Ran> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [join(ROOT, 'src/runner/main.ts'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.once('error', reject);
      child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    });
  }

  /** The three containers' environments, as buildJobManifest gives them (exec: no S3 settings, no credentials). */
  async function jobEnv(req: SandboxRequest) {
    const root = await mkdtemp(join(scratch, 'pod-'));
    const dirs = { workspace: join(root, 'workspace'), state: join(root, 'state'), exchange: join(root, 'exchange') };
    for (const d of Object.values(dirs)) await mkdir(d);
    const base = {
      PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root, TMPDIR: root,
      AGENTRUN_REQUEST: JSON.stringify(req),
      AGENTRUN_WORKSPACE_DIR: dirs.workspace, AGENTRUN_STATE_DIR: dirs.state, AGENTRUN_EXCHANGE_DIR: dirs.exchange,
    };
    const withS3 = {
      ...base,
      S3_ENDPOINT: c.config.s3.endpoint!, S3_REGION: c.config.s3.region, S3_BUCKET: c.config.s3.bucket,
      S3_FORCE_PATH_STYLE: String(c.config.s3.forcePathStyle),
      AWS_ACCESS_KEY_ID: stack.S3_ACCESS_KEY_ID!, AWS_SECRET_ACCESS_KEY: stack.S3_SECRET_ACCESS_KEY!,
    };
    return { base, withS3, dirs };
  }

  const newRequest = (command: SandboxRequest['command'], index = 0): SandboxRequest => {
    const runId = newRunId();
    return { runId, userId: user, index, workspacePrefix: s3Keys.workspaceFiles(user, runId), command, limits: { timeoutMs: 20_000, outputMaxBytes: 65536 } };
  };
  const getText = async (key: string) => (await c.s3.send(new GetObjectCommand({ Bucket: c.config.s3.bucket, Key: key }))).Body!.transformToString();

  it('pulls with credentials, executes without them, pushes files and the result record', async () => {
    const req = newRequest({ code: { language: 'python', source: [
      'import os',
      'print(open("in.txt").read().strip())',
      'print("aws vars:", sorted(k for k in os.environ if k.startswith(("AWS_", "S3_", "AGENTRUN_"))))',
      'open("out.txt", "w").write("from the pod")',
      'os.remove("old.txt")',
    ].join('\n') } }, 4);
    await c.s3.send(new PutObjectCommand({ Bucket: c.config.s3.bucket, Key: `${req.workspacePrefix}in.txt`, Body: 'pulled content\n' }));
    await c.s3.send(new PutObjectCommand({ Bucket: c.config.s3.bucket, Key: `${req.workspacePrefix}old.txt`, Body: 'x' }));
    const { base, withS3 } = await jobEnv(req);

    const pulled = await runner(['pull'], withS3);
    assert.equal(pulled.code, 0, pulled.stderr);
    const ran = await runner(['exec'], base);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, 'pulled content\naws vars: []\n', 'the live output is the command\'s, line by line');
    const pushed = await runner(['push'], withS3);
    assert.equal(pushed.code, 0, pushed.stderr);

    const record = JSON.parse(await getText(s3Keys.sandboxResult(user, req.runId, 4))) as SandboxResult;
    assert.equal(record.exitCode, 0);
    assert.equal(record.timedOut, false);
    assert.equal(record.stdout, 'pulled content\naws vars: []\n');
    assert.deepEqual([...record.changedFiles].sort((a, b) => a.path.localeCompare(b.path)), [
      { path: 'old.txt', change: 'deleted', bytes: 0 },
      { path: 'out.txt', change: 'added', bytes: 12 },
    ]);
    assert.equal(await getText(`${req.workspacePrefix}out.txt`), 'from the pod');

    // A second push of the same execution changes nothing: the first record stands.
    const head1 = await c.s3.send(new HeadObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.sandboxResult(user, req.runId, 4) }));
    const again = await runner(['push'], withS3);
    assert.equal(again.code, 0, again.stderr);
    const head2 = await c.s3.send(new HeadObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.sandboxResult(user, req.runId, 4) }));
    assert.equal(head2.ETag, head1.ETag);
    assert.equal(head2.LastModified?.getTime(), head1.LastModified?.getTime());
  });

  it('records a failing command as a result (exit 0 of the phases), with its exit code', async () => {
    const req = newRequest({ argv: ['sh', '-c', 'echo bad >&2; exit 7'] });
    const { base, withS3 } = await jobEnv(req);
    assert.equal((await runner(['pull'], withS3)).code, 0);
    const ran = await runner(['exec'], base);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stderr, 'bad\n');
    assert.equal((await runner(['push'], withS3)).code, 0);
    const record = JSON.parse(await getText(s3Keys.sandboxResult(user, req.runId, 0))) as SandboxResult;
    assert.equal(record.exitCode, 7);
    assert.equal(record.stderr, 'bad\n');
  });

  it('exits 1 with one line on stderr for an invalid request, a missing setting or an unknown phase', async () => {
    const req = newRequest({ argv: ['true'] });
    const { base, withS3 } = await jobEnv(req);
    const oneLine = (r: Ran, pattern: RegExp) => {
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.split('\n').length, 2, r.stderr);
      assert.ok(r.stderr.endsWith('\n'));
      assert.match(r.stderr, pattern);
    };
    oneLine(await runner(['pull'], { ...withS3, AGENTRUN_REQUEST: '{"runId": ' }), /^agentrun-runner: AGENTRUN_REQUEST is not JSON: /);
    oneLine(await runner(['exec'], { ...base, AGENTRUN_REQUEST: JSON.stringify({ ...req, command: { argv: [] }, limits: {} }) }),
      /^agentrun-runner: AGENTRUN_REQUEST is invalid: command.*limits\.timeoutMs/);
    const { AGENTRUN_REQUEST: _r, ...noRequest } = base;
    oneLine(await runner(['exec'], noRequest), /^agentrun-runner: AGENTRUN_REQUEST is not set$/m);
    const { S3_BUCKET: _b, ...noBucket } = withS3;
    oneLine(await runner(['pull'], noBucket), /^agentrun-runner: invalid environment: S3_BUCKET: /);
    oneLine(await runner(['build'], withS3), /^agentrun-runner: unknown phase "build": expected pull, exec or push$/m);
    oneLine(await runner([], withS3), /^agentrun-runner: unknown phase null/);
    // push before exec: the outcome is missing, nothing is recorded.
    assert.equal((await runner(['pull'], withS3)).code, 0);
    oneLine(await runner(['push'], withS3), /^agentrun-runner: .*outcome\.json/);
    await assert.rejects(c.s3.send(new HeadObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.sandboxResult(user, req.runId, 0) })), { name: 'NotFound' });
  });
});

describe('shell and code steps through the real worker (SANDBOX=local)', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let user: string;
  let taskQueue: string;

  before(async () => {
    c = await connectClients();
    user = await newUser(c, 100_000, 'sandbox');
    taskQueue = uniqueQueue('sandbox');
    worker = await startWorker({ ...stackEnv(), SANDBOX: 'local', TEMPORAL_TASK_QUEUE: taskQueue });
  });
  after(async () => {
    await stop(worker);
    await c?.close();
  });

  /** Starts a run the way the API does (record, then workflow), waits for it to end, returns its events. */
  async function runToEnd(prompt: string): Promise<{ id: string; events: { type: string; data: Record<string, unknown> }[] }> {
    const id = newRunId();
    const input: RunInput = {
      runId: id, userId: user, prompt, creditReservation: c.config.credits.runReservation, provider: 'offline',
      requireApproval: false, priority: 3, limits: c.config.runs, workspaceId: id,
    };
    await c.store.createRun({ id, userId: user, prompt, priority: 3, status: 'queued' });
    const handle = await c.temporal.workflow.start(WORKFLOW_TYPE, {
      workflowId: id, taskQueue, args: [input],
      typedSearchAttributes: [
        { key: searchAttributes.agentStatus, value: 'queued' },
        { key: searchAttributes.userId, value: user },
        { key: searchAttributes.priority, value: 3 },
      ],
    });
    await handle.result().catch(() => undefined); // a failed run is an outcome here; its events say how
    const events = await waitUntil('the end event', async () => {
      const entries = await c.redis.xrange(redisKeys.events(id), '-', '+');
      const all = entries.map(([, fields]) => {
        const f = new Map<string, string>();
        for (let i = 0; i < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
        return { type: f.get('type')!, data: JSON.parse(f.get('data')!) as Record<string, unknown> };
      });
      return all.at(-1)?.type === 'end' ? all : undefined;
    });
    return { id, events };
  }

  it('a shell step and a code step work on the files earlier steps wrote, and read_file sees their changes', async () => {
    const { id, events } = await runToEnd([
      'write_file notes/in.txt hello',
      'shell sed -i s/hello/goodbye/ notes/in.txt',
      'code python: open("notes/in.txt", "a").write(" world")\\nprint(open("notes/in.txt").read())',
      'shell cat notes/in.txt',
      'read_file notes/in.txt',
    ].join('\n'));
    assert.equal(events.at(-1)!.data.status, 'completed', JSON.stringify(events));
    const logs = events.filter((e) => e.type === 'log').map((e) => e.data);
    assert.ok(logs.some((l) => l.index === 2 && l.stream === 'stdout' && l.text === 'goodbye world'), JSON.stringify(logs));
    assert.ok(logs.some((l) => l.index === 3 && l.stream === 'stdout' && l.text === 'goodbye world'));
    const preview = logs.find((l) => l.index === 4 && l.stream === 'file');
    assert.equal(preview?.text, 'goodbye world');
    const summaries = events.filter((e) => e.type === 'step' && e.data.phase === 'completed').map((e) => String(e.data.summary));
    assert.match(summaries[1]!, /^sed: exit code 0; 1 file\(s\) changed$/);
    assert.match(summaries[2]!, /^python: exit code 0; 1 file\(s\) changed$/);
    const obj = await c.s3.send(new GetObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.file(user, id, 'notes/in.txt') }));
    assert.equal(await obj.Body!.transformToString(), 'goodbye world');
  });

  it('fails the run when a code step exits non-zero, naming the exit code', async () => {
    const { id, events } = await runToEnd('code bash: echo before; exit 4\nwrite_file never.txt x');
    assert.equal(events.at(-1)!.data.status, 'failed');
    const done = events.find((e) => e.type === 'step' && e.data.phase === 'completed');
    assert.match(String(done!.data.summary), /^bash: exit code 4/);
    assert.ok(events.some((e) => e.type === 'log' && e.data.text === 'before'));
    await assert.rejects(c.s3.send(new HeadObjectCommand({ Bucket: c.config.s3.bucket, Key: s3Keys.file(user, id, 'never.txt') })), { name: 'NotFound' });
  });
});
