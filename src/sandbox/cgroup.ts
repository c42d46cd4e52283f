/**
 * Whole-step limits from cgroups, where the worker may make them: a memory
 * cgroup (the step's processes together, not each one) and a pids cgroup per
 * step, created under the worker's own cgroups (cgroup v1 controllers, as root).
 * Where they cannot be made (not root, cgroup v2 without delegation) the jail's
 * per-process rlimits are the limits; `SandboxCgroups.open` says which.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
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
      const probe = await cg.create(`probe-${process.pid}`, { memoryBytes: 64 << 20, pids: 16 });
      await probe.remove();
      return cg;
    } catch {
      return undefined;
    }
  }

  async create(id: string, limits: { memoryBytes: number; pids: number }): Promise<StepCgroup> {
    const mem = join(this.memoryDir, id);
    const pids = join(this.pidsDir, id);
    await mkdir(mem);
    await mkdir(pids);
    await writeFile(join(mem, 'memory.limit_in_bytes'), String(limits.memoryBytes));
    // Without swap accounting this file is absent; the limit above then bounds RAM only.
    await writeFile(join(mem, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes)).catch(() => undefined);
    await writeFile(join(pids, 'pids.max'), String(limits.pids));
    return {
      procs: [join(mem, 'cgroup.procs'), join(pids, 'cgroup.procs')],
      oomKilled: async () => /^oom_kill [1-9]/m.test(await readFile(join(mem, 'memory.oom_control'), 'utf8').catch(() => '')),
      remove: async () => {
        // The step's processes are gone once its pid namespace ended; the kernel may take a moment to notice.
        for (const dir of [mem, pids]) {
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
      },
    };
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
