/**
 * Whole-step limits from cgroups, where the worker may make them: a memory
 * cgroup (the step's processes together, not each one) and a pids cgroup per
 * step, created under the worker's own cgroups (cgroup v1 controllers, as root).
 * Where they cannot be made (not root, cgroup v2 without delegation) the jail's
 * per-process rlimits are the limits; `SandboxCgroups.open` says which.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { dropTo } from './bwrap.ts';

const ROOT = '/sys/fs/cgroup';

/** The cgroups of one step: a process writes its pid to each of `procs` to join them. */
export interface StepCgroup {
  procs: string[];
  /** Whether the memory cgroup's OOM killer killed something of the step. */
  oomKilled(): Promise<boolean>;
  remove(): Promise<void>;
}

/** This process's path in a cgroup v1 controller's hierarchy (from /proc/self/cgroup). */
function ownPath(controller: string): string | undefined {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    if (controllers?.split(',').includes(controller)) return path;
  }
  return undefined;
}

export class SandboxCgroups {
  private readonly memoryDir: string;
  private readonly pidsDir: string;
  private constructor(memoryDir: string, pidsDir: string) {
    this.memoryDir = memoryDir;
    this.pidsDir = pidsDir;
  }

  /** The step cgroups' parents, when this process may create them; undefined otherwise. */
  static async open(): Promise<SandboxCgroups | undefined> {
    if (process.getuid?.() !== 0) return undefined;
    const mem = ownPath('memory');
    const pids = ownPath('pids');
    if (mem === undefined || pids === undefined || !existsSync(join(ROOT, 'memory', 'cgroup.procs')) || !existsSync(join(ROOT, 'pids', 'cgroup.procs'))) return undefined;
    const cg = new SandboxCgroups(join(ROOT, 'memory', mem, 'agentrun-steps'), join(ROOT, 'pids', pids, 'agentrun-steps'));
    try {
      await mkdir(cg.memoryDir, { recursive: true });
      await mkdir(cg.pidsDir, { recursive: true });
      const probe = await cg.create('probe', { memoryBytes: 64 << 20, pids: 16 });
      await probe.remove();
      await cg.sweep().catch(() => undefined); // best effort: what is left is swept at the next start
      return cg;
    } catch {
      return undefined;
    }
  }

  /** The step cgroups' parent directories (memory, pids). */
  get dirs(): [string, string] {
    return [this.memoryDir, this.pidsDir];
  }

  /**
   * Removes the step cgroups of workers that are gone: a SIGKILLed worker cannot remove its
   * own, and they would pile up, one per step it had running. A step cgroup is named after
   * its worker's pid; only those whose worker is not alive are swept, after killing whatever
   * still runs in them, so another worker's live steps are never touched. Returns how many.
   */
  async sweep(): Promise<number> {
    let swept = 0;
    for (const name of await readdir(this.memoryDir).catch(() => [] as string[])) {
      const owner = /^(\d+)-/.exec(name)?.[1];
      if (owner === undefined || alive(Number(owner))) continue;
      const dirs = [join(this.memoryDir, name), join(this.pidsDir, name)];
      for (const dir of dirs) {
        for (const pid of (await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean)) {
          try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone already */ }
        }
      }
      // One that will not go (a process the kernel has not reaped yet) stays for the next start; the others go now.
      if (await removeDirs(dirs).then(() => true, () => false)) swept += 1;
    }
    return swept;
  }

  /** A step's cgroups, named `<this worker's pid>-<id>` (sweep() tells a dead worker's by it). */
  async create(id: string, limits: { memoryBytes: number; pids: number }): Promise<StepCgroup> {
    const mem = join(this.memoryDir, `${process.pid}-${id}`);
    const pids = join(this.pidsDir, `${process.pid}-${id}`);
    await mkdir(mem);
    await mkdir(pids);
    await writeFile(join(mem, 'memory.limit_in_bytes'), String(limits.memoryBytes));
    // Without swap accounting this file is absent; the limit above then bounds RAM only.
    await writeFile(join(mem, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes)).catch(() => undefined);
    await writeFile(join(pids, 'pids.max'), String(limits.pids));
    return {
      procs: [join(mem, 'cgroup.procs'), join(pids, 'cgroup.procs')],
      oomKilled: async () => /^oom_kill [1-9]/m.test(await readFile(join(mem, 'memory.oom_control'), 'utf8').catch(() => '')),
      // The step's processes are gone once its pid namespace ended; the kernel may take a moment to notice.
      remove: () => removeDirs([mem, pids]),
    };
  }
}

/** Whether process `pid` exists (EPERM: it does, another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes cgroup directories, waiting up to a second for the kernel to see their processes gone. */
async function removeDirs(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    for (let i = 0; ; i++) {
      try {
        await rmdir(dir);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
        if (i >= 50) throw err;
        await sleep(20);
      }
    }
  }
}

/**
 * Wraps an argv so that it joins `cg` first, then drops to `owner`: a shell (as
 * root) writes its own pid to each cgroup, then execs setpriv, which execs the argv.
 */
export function inCgroup(cg: StepCgroup, owner: { uid: number; gid: number } | undefined, argv: string[]): string[] {
  const drop = dropTo(owner);
  const join = cg.procs.map((_, i) => `echo $$ > "$${i + 1}" || exit 125`).join('; ');
  // `env -i`: the shell's own variables (PWD, …) must not reach the jail's pid 1.
  return ['/bin/sh', '-c', `${join}; shift ${cg.procs.length}; exec /usr/bin/env -i "$@"`, 'sh', ...cg.procs, ...drop, ...argv];
}
