/**
 * SANDBOX=local's jail around one command: prepares the scratch directories,
 * builds the bubblewrap argv, and watches the workspace copy's size while the
 * command runs (no disk quota exists for a plain directory, so the step is
 * stopped when it grows past SANDBOX_DISK or SANDBOX_MAX_FILES).
 */
import { accessSync, constants } from 'node:fs';
import { mkdtemp, readdir, lstat, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, delimiter, isAbsolute, join } from 'node:path';
import type { LocalSandboxConfig, SandboxLimits } from '../shared/config.ts';
import { boundToWorker, bwrapArgv, dropTo, hostLayout, JAIL, jailOwner, prepareJail, probeBubblewrap, workerNodeDir } from './bwrap.ts';
import type { JailSpec } from './bwrap.ts';
import { inCgroup, SandboxCgroups } from './cgroup.ts';

/** Processes and threads a jailed browser may have at least (Chromium runs a few processes of dozens of threads). */
const BROWSER_MIN_PIDS = 1024;

/** How often the workspace copy's size is checked while a command runs. */
const DISK_CHECK_MS = 250;

export interface Jailed {
  argv: string[];
  env: Record<string, string>;
  runAs?: { uid: number; gid: number };
  /** The argv for a launcher that cannot switch user itself (a wrapper script, the MCP SDK's spawn): `argv` behind the drop to `runAs`. */
  launchArgv: string[];
  /** Aborted (with the reason) when the command exceeded a limit the jail watches. */
  stop: AbortSignal;
  /** Ends the watch and removes the step's cgroups; says whether the memory cgroup's OOM killer struck. */
  leave(): Promise<{ oomKilled: boolean }>;
}

/** Thrown at start-up when bubblewrap cannot build a jail here; the message is one line. */
export class JailUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JailUnavailableError';
  }
}

export class Jail {
  readonly limits: SandboxLimits;
  /** Whole-step memory and pids limits (cgroups), when this worker may create them. */
  readonly cgroups: SandboxCgroups | undefined;
  private readonly spec: Pick<JailSpec, 'bwrap' | 'systemDirs' | 'etcFiles' | 'nodeDir' | 'limits'>;

  private constructor(bwrap: string, limits: SandboxLimits, cgroups: SandboxCgroups | undefined) {
    this.limits = limits;
    this.cgroups = cgroups;
    this.spec = { bwrap, limits, nodeDir: workerNodeDir(), ...hostLayout() };
  }

  /** Finds bubblewrap and checks that it can build a jail on this machine. */
  static async open(cfg: LocalSandboxConfig): Promise<Jail> {
    const bwrap = resolveBinary(cfg.bwrap);
    if (!bwrap) throw new JailUnavailableError(`bubblewrap (${cfg.bwrap}) is not installed`);
    const scratch = await mkdtemp(join(tmpdir(), 'agentrun-probe-'));
    try {
      const why = await probeBubblewrap(bwrap, cfg.limits, scratch);
      if (why) throw new JailUnavailableError(`bubblewrap cannot create the namespaces a step needs: ${why}`);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    return new Jail(bwrap, cfg.limits, await SandboxCgroups.open());
  }

  /** Prepares `scratch` for one command and returns how to start it. */
  async enter(o: { scratch: string; workspaceDir: string; command: (codeDir: string) => string[]; codeFile?: string; env?: Record<string, string>; browser?: boolean; roBinds?: { host: string; at: string }[] }): Promise<Jailed> {
    const owner = jailOwner();
    const etcDir = join(o.scratch, 'etc');
    await prepareJail({ etcDir, workspaceDir: o.workspaceDir, scratch: o.scratch, owner });
    const codeFile = o.codeFile ? { host: o.codeFile, name: o.codeFile.split('/').pop()! } : undefined;
    // A browser: its many threads need more than a step's process count, its reservations an unlimited address space.
    const limits = o.browser ? { ...this.limits, pids: Math.max(this.limits.pids, BROWSER_MIN_PIDS) } : this.limits;
    // Bound to this worker: a jail whose worker died (SIGKILL, even mid-spawn) dies with it.
    const argv = boundToWorker(bwrapArgv({ ...this.spec, limits, workspaceDir: o.workspaceDir, etcDir, codeFile, env: o.env, unlimitedAddressSpace: o.browser, roBinds: o.roBinds }, o.command(JAIL.code)));
    const cg = await this.cgroups?.create(basename(o.scratch), { memoryBytes: limits.memoryBytes, pids: limits.pids });
    const ac = new AbortController();
    const watch = watchDisk(o.workspaceDir, limits, (reason) => ac.abort(reason));
    return {
      // In cgroups, a root shell joins them and drops to the jail's user itself.
      argv: cg ? inCgroup(cg, owner, argv) : argv, env: {}, runAs: cg ? undefined : owner, stop: ac.signal,
      launchArgv: cg ? inCgroup(cg, owner, argv) : [...dropTo(owner), ...argv],
      leave: async () => {
        clearInterval(watch);
        if (!cg) return { oomKilled: false };
        const oomKilled = await cg.oomKilled();
        await cg.remove();
        return { oomKilled };
      },
    };
  }
}

/** An absolute path of an executable: `name` itself when it is a path, else the first match on PATH. */
function resolveBinary(name: string): string | undefined {
  const candidates = name.includes('/') ? [name] : (process.env.PATH ?? '/usr/bin:/bin').split(delimiter).filter(Boolean).map((d) => join(d, name));
  return candidates.filter((c) => isAbsolute(c)).find((c) => {
    try { accessSync(c, constants.X_OK); return true; } catch { return false; }
  });
}

function watchDisk(dir: string, limits: SandboxLimits, exceeded: (reason: string) => void): NodeJS.Timeout {
  let busy = false;
  const timer: NodeJS.Timeout = setInterval(() => {
    if (busy) return;
    busy = true;
    void measure(dir, limits.maxFiles).then((m) => {
      if (m.bytes > limits.diskBytes) exceeded(`the workspace grew past SANDBOX_DISK (${limits.diskBytes} bytes)`);
      else if (m.files > limits.maxFiles) exceeded(`the workspace holds more than SANDBOX_MAX_FILES (${limits.maxFiles}) files`);
    }).catch(() => undefined).finally(() => { busy = false; });
  }, DISK_CHECK_MS);
  return timer;
}

/** Bytes and entries under `dir`, stopping once more than `maxFiles` entries were seen. */
async function measure(dir: string, maxFiles: number): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  const stack = [dir];
  while (stack.length > 0 && files <= maxFiles) {
    const d = stack.pop()!;
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      continue; // removed meanwhile, or made unreadable: the push reports it
    }
    for (const e of entries) {
      files += 1;
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else {
        try { bytes += (await lstat(p)).blocks * 512; } catch { /* gone */ }
      }
    }
  }
  return { bytes, files };
}
