/**
 * The bubblewrap jail of SANDBOX=local: what one step sees and what it may use.
 *
 * Per step: new user, pid, ipc, uts, cgroup, mount and network namespaces (the
 * network namespace has only its own loopback); no environment but PATH, HOME,
 * LANG, TZ and the step's own variables; a fresh /proc of its own pid
 * namespace; /usr (and the merged-/usr links) and a few /etc files read-only;
 * a private, size-limited tmpfs /tmp, /dev/shm and $HOME; the step's workspace
 * copy as the only writable bind; / and /dev read-only; no further user namespaces; killed with the worker.
 * Inside, `prlimit` sets the resource limits before the command starts, so
 * nothing the command runs can raise them. When the worker runs as root, the
 * jail runs as the unprivileged `nobody` (65534) of the host, so even a
 * namespace escape lands without privileges.
 *
 * `bwrapArgv` is pure (tested on plain input); `prepareJail` and
 * `probeBubblewrap` do the I/O.
 */
import { spawn } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import { existsSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { SandboxLimits } from '../shared/config.ts';

/** Where things are inside the jail. */
export const JAIL = {
  workspace: '/workspace',
  home: '/home/sandbox',
  /** Code of a `code` step (read-only). */
  code: '/run/agentrun',
  /** An MCP server's code (MCP_SERVERS' `mount`, read-only). */
  mcp: '/opt/mcp',
  /** The worker's own Node.js distribution (read-only), when it is not under /usr. */
  node: '/opt/agentrun-node',
  uid: 1000,
  gid: 1000,
} as const;

/** The host user a jail runs as when the worker is root. */
export const NOBODY = 65534;

/** Top-level links of a merged-/usr system (`/bin -> usr/bin`); real directories are bound read-only instead. */
const SYSTEM_DIRS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
/** /etc files a command may need (dynamic linker, alternatives, time zone, TLS roots); each only if present. */
const ETC_FILES = [
  '/etc/ld.so.cache', '/etc/ld.so.conf', '/etc/ld.so.conf.d', '/etc/alternatives', '/etc/localtime', '/etc/timezone',
  '/etc/nsswitch.conf', '/etc/fonts', '/etc/ssl/certs', '/etc/ca-certificates', '/etc/mime.types', '/etc/python3', '/etc/python3.11',
];

export interface JailSpec {
  /** Absolute path of the bubblewrap binary. */
  bwrap: string;
  /** Host directory holding the step's workspace copy (bound read-write at /workspace). */
  workspaceDir: string;
  /** Host directory with the generated passwd, group and hosts files. */
  etcDir: string;
  /** Host file with the code of a `code` step, bound read-only under /run/agentrun. */
  codeFile?: { host: string; name: string };
  /** Host directory of a Node.js distribution to offer at /opt/agentrun-node (its bin/ goes first on PATH). */
  nodeDir?: string;
  /** The step's own, non-secret variables. */
  env?: Record<string, string>;
  limits: SandboxLimits;
  /** How the system directories look on this host: link target, or null for a real directory, absent if missing. */
  systemDirs: Record<string, string | null>;
  /** /etc entries that exist on this host. */
  etcFiles: string[];
  /**
   * Leave the address space unlimited (RLIMIT_AS): Chromium reserves terabytes of it
   * that it never uses; its memory is then bounded by the step's memory cgroup only.
   */
  unlimitedAddressSpace?: boolean;
  /** More host paths bound read-only at absolute jail paths (a browser's proxy socket, an MCP server's code). */
  roBinds?: { host: string; at: string }[];
}

/** The PATH inside the jail. */
export function jailPath(withNode: boolean): string {
  return `${withNode ? `${JAIL.node}/bin:` : ''}/usr/local/bin:/usr/bin:/bin`;
}

/** The full argv: bwrap, its options, prlimit with the limits, then the command. */
export function bwrapArgv(spec: JailSpec, command: readonly string[]): string[] {
  const l = spec.limits;
  const a: string[] = [spec.bwrap,
    '--unshare-all', '--unshare-user', '--disable-userns', '--hostname', 'sandbox',
    '--die-with-parent', '--new-session', '--uid', String(JAIL.uid), '--gid', String(JAIL.gid),
    '--clearenv',
    '--setenv', 'PATH', jailPath(spec.nodeDir !== undefined),
    '--setenv', 'HOME', JAIL.home, '--setenv', 'TMPDIR', '/tmp',
    '--setenv', 'LANG', 'C.UTF-8', '--setenv', 'TZ', 'UTC',
  ];
  for (const [k, v] of Object.entries(spec.env ?? {})) a.push('--setenv', k, v);
  a.push('--ro-bind', '/usr', '/usr');
  for (const [dir, target] of Object.entries(spec.systemDirs)) {
    if (target === null) a.push('--ro-bind', dir, dir);
    else a.push('--symlink', target, dir);
  }
  for (const f of spec.etcFiles) a.push('--ro-bind', f, f);
  for (const f of ['passwd', 'group', 'hosts']) a.push('--ro-bind', join(spec.etcDir, f), `/etc/${f}`);
  if (spec.nodeDir) a.push('--ro-bind', spec.nodeDir, JAIL.node);
  a.push(
    '--proc', '/proc', '--dev', '/dev',
    '--size', String(l.tmpBytes), '--tmpfs', '/dev/shm',
    '--size', String(l.tmpBytes), '--tmpfs', '/tmp',
    '--size', String(l.tmpBytes), '--tmpfs', JAIL.home,
    '--bind', spec.workspaceDir, JAIL.workspace,
  );
  if (spec.codeFile) a.push('--ro-bind', spec.codeFile.host, `${JAIL.code}/${spec.codeFile.name}`);
  for (const b of spec.roBinds ?? []) a.push('--ro-bind', b.host, b.at);
  // bubblewrap builds / and /dev as unbounded tmpfs: read-only once built, so only the sized mounts take writes.
  a.push('--remount-ro', '/dev', '--remount-ro', '/');
  a.push('--chdir', JAIL.workspace, '--',
    '/usr/bin/prlimit', ...(spec.unlimitedAddressSpace ? [] : [`--as=${l.memoryBytes}`]), `--nproc=${l.pids}`, `--nofile=${l.openFiles}`,
    `--cpu=${l.cpuSeconds}:${l.cpuSeconds + 5}`, `--fsize=${l.fileSizeBytes}`, '--core=0', '--',
    ...command);
  return a;
}

/** Reads how this host lays out its system directories (for `bwrapArgv`). */
export function hostLayout(): Pick<JailSpec, 'systemDirs' | 'etcFiles'> {
  const systemDirs: Record<string, string | null> = {};
  for (const d of SYSTEM_DIRS) {
    try {
      const st = lstatSync(d);
      if (st.isSymbolicLink()) systemDirs[d] = readlinkSync(d);
      else if (st.isDirectory()) systemDirs[d] = null;
    } catch { /* absent on this host */ }
  }
  return { systemDirs, etcFiles: ETC_FILES.filter((f) => existsSync(f)) };
}

/**
 * The host uid/gid a jail runs as: `nobody` when the worker is root and `nobody`
 * exists in its user namespace, else the worker's own (a rootless container's
 * root, say, whose namespace maps no other user).
 */
export function jailOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const mapped = (file: string) => {
    try {
      return readFileSync(file, 'utf8').trim().split('\n').some((line) => {
        const [inside, , count] = line.trim().split(/\s+/).map(Number) as [number, number, number];
        return NOBODY >= inside && NOBODY < inside + count;
      });
    } catch {
      return false;
    }
  };
  return mapped('/proc/self/uid_map') && mapped('/proc/self/gid_map') ? { uid: NOBODY, gid: NOBODY } : undefined;
}

/** The argv prefix that drops to `owner` before exec'ing the rest (nothing without an owner). */
export function dropTo(owner: { uid: number; gid: number } | undefined): string[] {
  return owner ? ['/usr/bin/setpriv', `--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--clear-groups', '--'] : [];
}

/**
 * `argv` bound to the life of the worker that spawns it (`workerPid`, this process): setpriv sets
 * the parent-death signal — after any drop of user before it, which clears the signal — then a
 * shell checks that its parent is still the worker. Without the check a worker killed between the
 * spawn and the signal being set (the cgroup shell, the drop and bubblewrap's own
 * --die-with-parent each an exec later) left the jail running with no one to stop it.
 */
export function boundToWorker(argv: readonly string[], workerPid: number = process.pid): string[] {
  return ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--', '/bin/sh', '-c', 'test "$PPID" = "$1" || exit 125; shift; exec "$@"', 'sh', String(workerPid), ...argv];
}

/** Writes the jail's passwd, group and hosts, and hands the workspace copy to the jail's host user. */
export async function prepareJail(o: { etcDir: string; workspaceDir: string; scratch: string; owner?: { uid: number; gid: number } }): Promise<void> {
  await mkdir(o.etcDir, { recursive: true, mode: 0o755 });
  await writeFile(join(o.etcDir, 'passwd'), `root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:${JAIL.uid}:${JAIL.gid}:sandbox:${JAIL.home}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`, { mode: 0o644 });
  await writeFile(join(o.etcDir, 'group'), `root:x:0:\nsandbox:x:${JAIL.gid}:\nnogroup:x:65534:\n`, { mode: 0o644 });
  await writeFile(join(o.etcDir, 'hosts'), '127.0.0.1 localhost sandbox\n::1 localhost\n', { mode: 0o644 });
  if (!o.owner) return;
  // bubblewrap, running as the jail's user, must reach the paths it binds: traverse-only on the scratch directory.
  await chmod(o.scratch, 0o711);
  await chownTree(o.workspaceDir, o.owner.uid, o.owner.gid);
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else if ((await lstat(p)).isFile()) await chown(p, uid, gid);
  }
}

/** Runs a trivial command in a jail like a step's; resolves to undefined when it works, else to the reason. */
export async function probeBubblewrap(bwrap: string, limits: SandboxLimits, scratch: string): Promise<string | undefined> {
  const workspaceDir = join(scratch, 'workspace');
  const etcDir = join(scratch, 'etc');
  const owner = jailOwner();
  try {
    await mkdir(workspaceDir, { recursive: true, mode: 0o700 });
    await prepareJail({ etcDir, workspaceDir, scratch, owner });
  } catch (err) {
    return `cannot prepare a jail's directories: ${(err as Error).message}`;
  }
  const argv = bwrapArgv({ bwrap, workspaceDir, etcDir, limits, ...hostLayout() }, ['/bin/sh', '-c', 'test "$(id -u)" = 1000 && echo ok']);
  return new Promise((resolve) => {
    let out = '';
    const child = spawn(argv[0]!, argv.slice(1), { env: {}, stdio: ['ignore', 'pipe', 'pipe'], ...owner });
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ENOENT' ? `${bwrap} is not installed` : err.message));
    child.on('close', (code) => resolve(code === 0 && out.trim() === 'ok' ? undefined : (out.trim().split('\n')[0] || `exit code ${code}`)));
  });
}

/** The directory of a Node.js distribution holding this process's binary, unless it is under /usr (already visible). */
export function workerNodeDir(): string | undefined {
  const dir = dirname(dirname(process.execPath));
  return dir === '/usr' || dir.startsWith('/usr/') ? undefined : dir;
}

/** The limit behind a jailed command's exit code (bubblewrap reports death by signal N as 128+N), if any. */
export function limitFromExit(exitCode: number | null, limits: SandboxLimits): string | undefined {
  if (exitCode === 128 + 25) return `a file reached the file size limit SANDBOX_FILE_SIZE (${limits.fileSizeBytes} bytes): killed by SIGXFSZ`;
  if (exitCode === 128 + 24) return `the CPU time limit SANDBOX_CPU_S (${limits.cpuSeconds} s) ran out: killed by SIGXCPU`;
  return undefined;
}
