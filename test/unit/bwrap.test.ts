/** The bubblewrap argv of SANDBOX=local, on plain input: what a step's jail is made of. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bwrapArgv, JAIL, limitFromExit } from '../../src/sandbox/bwrap.ts';
import type { JailSpec } from '../../src/sandbox/bwrap.ts';
import { loadConfig } from '../../src/shared/config.ts';

const limits = { memoryBytes: 2 << 30, pids: 256, openFiles: 1024, cpuSeconds: 600, fileSizeBytes: 1 << 30, tmpBytes: 256 << 20, diskBytes: 2 << 30, maxFiles: 100_000 };
const spec: JailSpec = {
  bwrap: '/usr/bin/bwrap', workspaceDir: '/tmp/x/workspace', etcDir: '/tmp/x/etc', limits,
  systemDirs: { '/bin': 'usr/bin', '/lib': 'usr/lib', '/lib64': 'usr/lib64' }, etcFiles: ['/etc/ld.so.cache'],
  env: { GREETING: 'hi' },
};

/** The option/argument pairs of an argv, e.g. [['--bind', src, dest], …] for a flag taking two. */
function withArgs(argv: string[], flag: string, n: number): string[][] {
  const out: string[][] = [];
  argv.forEach((a, i) => { if (a === flag) out.push(argv.slice(i + 1, i + 1 + n)); });
  return out;
}

describe('bwrapArgv', () => {
  const argv = bwrapArgv(spec, ['sh', '-c', 'echo hi']);
  const sep = argv.indexOf('--');
  const opts = argv.slice(0, sep);

  it('unshares every namespace, network and user included, and forbids nested user namespaces', () => {
    for (const f of ['--unshare-all', '--unshare-user', '--disable-userns', '--die-with-parent', '--new-session', '--clearenv']) assert.ok(opts.includes(f), f);
    assert.ok(!opts.includes('--share-net'));
    assert.deepEqual(withArgs(opts, '--uid', 1), [[String(JAIL.uid)]]);
  });

  it('sets only PATH, HOME, TMPDIR, LANG, TZ and the step\'s own variables', () => {
    const names = withArgs(opts, '--setenv', 2).map(([k]) => k);
    assert.deepEqual(names.sort(), ['GREETING', 'HOME', 'LANG', 'PATH', 'TMPDIR', 'TZ']);
  });

  it('binds the workspace copy as the only writable host path; system directories are read-only', () => {
    assert.deepEqual(withArgs(opts, '--bind', 2), [['/tmp/x/workspace', JAIL.workspace]]);
    const ro = withArgs(opts, '--ro-bind', 2).map(([src]) => src!);
    assert.ok(ro.includes('/usr'));
    assert.ok(ro.every((src) => src === '/usr' || src.startsWith('/etc/') || src.startsWith('/tmp/x/etc/')), ro.join(' '));
    assert.deepEqual(withArgs(opts, '--symlink', 2), [['usr/bin', '/bin'], ['usr/lib', '/lib'], ['usr/lib64', '/lib64']]);
    assert.deepEqual(withArgs(opts, '--proc', 1), [['/proc']]);
    // /dev/shm, /tmp and HOME are private, size-limited tmpfs mounts; the tmpfs bubblewrap builds / and /dev on end read-only.
    assert.deepEqual(withArgs(opts, '--tmpfs', 1).map(([d]) => d), ['/dev/shm', '/tmp', JAIL.home]);
    assert.deepEqual(withArgs(opts, '--size', 1), Array.from({ length: 3 }, () => [String(limits.tmpBytes)]));
    assert.deepEqual(withArgs(opts, '--remount-ro', 1), [['/dev'], ['/']]);
    assert.ok(opts.lastIndexOf('--remount-ro') > Math.max(opts.lastIndexOf('--bind'), opts.lastIndexOf('--tmpfs'), opts.lastIndexOf('--ro-bind')), 'remounted after every mount');
  });

  it('starts the command under prlimit with every limit, soft and hard', () => {
    const rest = argv.slice(sep + 1);
    assert.deepEqual(rest, ['/usr/bin/prlimit', `--as=${2 << 30}`, '--nproc=256', '--nofile=1024', '--cpu=600:605', `--fsize=${1 << 30}`, '--core=0', '--', 'sh', '-c', 'echo hi']);
  });

  it('offers the code file and the worker\'s Node.js read-only, Node first on PATH', () => {
    const a = bwrapArgv({ ...spec, codeFile: { host: '/tmp/x/exchange/step.py', name: 'step.py' }, nodeDir: '/opt/tools/node' }, ['python3', '/run/agentrun/step.py']);
    const ro = withArgs(a, '--ro-bind', 2);
    assert.ok(ro.some(([s, d]) => s === '/tmp/x/exchange/step.py' && d === `${JAIL.code}/step.py`));
    assert.ok(ro.some(([s, d]) => s === '/opt/tools/node' && d === JAIL.node));
    assert.match(withArgs(a, '--setenv', 2).find(([k]) => k === 'PATH')![1]!, /^\/opt\/agentrun-node\/bin:/);
  });
});

describe('limitFromExit', () => {
  it('names the limit behind SIGXFSZ and SIGXCPU, and nothing else', () => {
    assert.match(limitFromExit(153, limits)!, /SANDBOX_FILE_SIZE/);
    assert.match(limitFromExit(152, limits)!, /SANDBOX_CPU_S/);
    assert.equal(limitFromExit(1, limits), undefined);
    assert.equal(limitFromExit(null, limits), undefined);
  });
});

describe('sandbox configuration', () => {
  const base = { DATABASE_URL: 'postgres://u:p@127.0.0.1:1/db', S3_ACCESS_KEY_ID: 'abc', S3_SECRET_ACCESS_KEY: 'abcdefgh' };
  it('defaults to the bubblewrap jail with sane limits; sizes read like Kubernetes quantities', () => {
    const c = loadConfig({ ...base, SANDBOX_MEMORY: '512Mi', SANDBOX_FILE_SIZE: '1048576' });
    assert.equal(c.sandbox.kind, 'local');
    if (c.sandbox.kind !== 'local') return;
    assert.equal(c.sandbox.local.limits.memoryBytes, 512 * 1024 * 1024);
    assert.equal(c.sandbox.local.limits.fileSizeBytes, 1024 * 1024);
    assert.equal(c.sandbox.local.limits.pids, 256);
  });
  it('accepts the explicit unsafe-host opt-in, and refuses sizes it cannot read', () => {
    assert.equal(loadConfig({ ...base, SANDBOX: 'unsafe-host' }).sandbox.kind, 'unsafe-host');
    assert.throws(() => loadConfig({ ...base, SANDBOX_MEMORY: '2GB' }), /SANDBOX_MEMORY="2GB" must be a size like 512Mi/);
    assert.throws(() => loadConfig({ ...base, SANDBOX_TMP_SIZE: '12' }), /SANDBOX_TMP_SIZE="12" must be at least 1Mi/);
    assert.throws(() => loadConfig({ ...base, SANDBOX: 'none' }), /SANDBOX="none"/);
  });
});
