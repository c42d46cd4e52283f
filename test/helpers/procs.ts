/** Host processes, as tests see them. */
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Host processes (not zombies) whose command line contains `marker`: a jailed
 * command's pids are those of its own pid namespace, so tests find what it left
 * running by a unique marker in the command line instead.
 */
export function runningWith(marker: string): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    if (pid === process.pid) return false;
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    } catch {
      return false;
    }
  });
}
