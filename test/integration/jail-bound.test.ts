/**
 * A jail lives no longer than the worker that started it: a worker SIGKILLed while its
 * step runs takes the step's processes with it, and one killed between spawning a jail and
 * the jail binding itself to it (the fault suite caught a jail left running that way) does
 * not leave the jail running either: the jail sees its parent is gone and does not start.
 * Attacks, on the real bubblewrap jail as the worker builds it (`Jail.enter`).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/shared/config.ts';
import { Jail } from '../../src/sandbox/jail.ts';
import { runningWith } from '../helpers/procs.ts';
import { ROOT, stackEnv, waitUntil } from '../helpers/stack.ts';

/** A child "worker": opens the jail as the worker does, starts `sleep <marker>` in it, prints its pid, then waits. */
const WORKER = `
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { loadConfig } from '${ROOT}src/shared/config.ts';
import { Jail } from '${ROOT}src/sandbox/jail.ts';
const [scratch, marker] = process.argv.slice(2);
const sb = loadConfig().sandbox;
if (sb.kind !== 'local') throw new Error('SANDBOX=local expected');
const jail = await Jail.open(sb.local);
await mkdir(join(scratch, 'workspace'), { recursive: true });
const j = await jail.enter({ scratch, workspaceDir: join(scratch, 'workspace'), command: () => ['/bin/sleep', marker] });
const child = spawn(j.argv[0], j.argv.slice(1), { stdio: 'ignore', ...j.runAs });
process.stdout.write(child.pid + '\\n');
setInterval(() => undefined, 1000);
`;

describe('a jail is bound to the worker that started it', () => {
  let dir: string;
  let script: string;
  let env: Record<string, string>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentrun-jail-bound-'));
    // The jail's user must reach its scratch directories, as under the worker's own scratch root.
    await chmod(dir, 0o711);
    script = join(dir, 'worker.ts');
    await writeFile(script, WORKER);
    env = { ...stackEnv(), SANDBOX: 'local' };
    const sb = loadConfig(env).sandbox;
    assert.equal(sb.kind, 'local');
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  /** The step's own process (`/bin/sleep <marker>` inside the jail), not bubblewrap's command line naming it. */
  const sleeping = async (m: string) => {
    const found = await Promise.all(runningWith(m).map((pid) => readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')));
    return found.some((cmd) => cmd.startsWith('/bin/sleep\0'));
  };
  const openJail = async () => {
    const sb = loadConfig(env).sandbox;
    if (sb.kind !== 'local') throw new Error('SANDBOX=local expected');
    return Jail.open(sb.local);
  };
  const marker = () => `300.${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}7`;

  it('a worker SIGKILLed while its step runs leaves no process of the step, and the next start sweeps its step\'s cgroups', async () => {
    const m = marker();
    const scratch = await mkdtemp(join(dir, 'kill-'));
    const worker = spawn(process.execPath, [script, scratch, m], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      worker.stdout.once('data', () => resolve());
      worker.once('exit', (code) => reject(new Error(`the worker exited (${code}) before starting its step`)));
    });
    await waitUntil('the step running in its jail', () => sleeping(m), 10_000);
    // While its worker lives the step's cgroup is there (as SandboxCgroups.open decides: a root worker with
    // cgroup v1's memory controller makes them), and no other worker's start sweeps it.
    const memory = /^\d+:memory:(.*)$/m.exec(await readFile('/proc/self/cgroup', 'utf8'))?.[1];
    const left = join('/sys/fs/cgroup/memory', memory ?? '/', 'agentrun-steps', `${worker.pid}-${basename(scratch)}`);
    const cgroups = process.getuid?.() === 0 && existsSync('/sys/fs/cgroup/memory/cgroup.procs');
    assert.equal(existsSync(left), cgroups, `the step's cgroup: ${left}`);
    await openJail();
    assert.equal(existsSync(left), cgroups, 'a live worker\'s step cgroup is not swept');
    worker.kill('SIGKILL');
    await waitUntil('nothing of the step left', () => runningWith(m).length === 0, 10_000);

    // It outlives its worker (a SIGKILLed worker cannot remove it): the next jail to open (this one, or
    // another test's worker starting meanwhile) sweeps it.
    await openJail();
    assert.ok(!existsSync(left), `swept: ${left}`);
  });

  it('a step cgroup of a worker that is gone is swept with whatever still runs in it; a live worker\'s is left alone', async () => {
    const jail = await openJail();
    if (!jail.cgroups) return;
    // A pid that is not alive any more, as a SIGKILLed worker's.
    const gone = spawn('/bin/true');
    await new Promise((resolve) => gone.on('exit', resolve));
    const m = marker();
    const orphan = spawn('/bin/sleep', [m], { stdio: 'ignore' });
    const theirs = jail.cgroups.dirs.map((d) => join(d, `${gone.pid}-left`));
    const mine = jail.cgroups.dirs.map((d) => join(d, `${process.pid}-live`));
    for (const d of [...theirs, ...mine]) await mkdir(d);
    try {
      for (const d of theirs) await writeFile(join(d, 'cgroup.procs'), String(orphan.pid));
      const exited = new Promise((resolve) => orphan.on('exit', (_code, signal) => resolve(signal)));
      assert.ok(await jail.cgroups.sweep() >= 1);
      assert.equal(await exited, 'SIGKILL', 'what ran in it was killed');
      assert.ok(theirs.every((d) => !existsSync(d)), 'the dead worker\'s step cgroups are gone');
      assert.ok(mine.every((d) => existsSync(d)), 'a live worker\'s are kept');
    } finally {
      orphan.kill('SIGKILL');
      for (const d of mine) await rmdir(d).catch(() => undefined);
    }
  });

  it('a jail whose worker is gone before it is bound does not start (the window between spawn and the parent-death signal)', async () => {
    // The jail's argv as the worker builds it, started by a process that is not the worker it names: as
    // when the worker died mid-spawn and the jail was handed to init.
    const m = marker();
    const scratch = await mkdtemp(join(dir, 'orphan-'));
    await mkdir(join(scratch, 'workspace'), { recursive: true });
    const sb = loadConfig(env).sandbox;
    if (sb.kind !== 'local') throw new Error('SANDBOX=local expected');
    const jail = await Jail.open(sb.local);
    const j = await jail.enter({ scratch, workspaceDir: join(scratch, 'workspace'), command: () => ['/bin/sleep', m] });
    // A shell in between: the jail's parent is that shell, not this process (the worker the argv names).
    const orphan = spawn('/bin/sh', ['-c', '"$@"; echo "exit $?"', 'sh', ...j.argv], { stdio: ['ignore', 'pipe', 'inherit'], ...j.runAs });
    let out = '';
    orphan.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const exited = new Promise((resolve) => orphan.on('close', resolve));
    // Unbound, the jail would run its sleep for 300 s: give it the time to show up.
    const ran = await waitUntil('the jail', async () => (await sleeping(m)) || out !== '', 5_000).catch(() => false);
    if (await sleeping(m)) for (const pid of runningWith(m)) process.kill(pid, 'SIGKILL');
    await exited;
    await j.leave();
    assert.equal(out.trim(), 'exit 125', `refused before bubblewrap ran (${String(ran)})`);
    assert.deepEqual(runningWith(m), []);
  });
});
