/**
 * "A run is untrusted code": each thing a shell or code step must not be able to
 * do under SANDBOX=local, tried for real through the API and the worker, with
 * the outcome read from the run's own log. Where it helps, the same probe runs
 * on the host first, so a probe that cannot see anything proves nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { collect, createRun, parse } from '../helpers/runs.ts';
import { connectClients, newUser, ROOT, stackEnv, startApi, startWorker, stop, uniqueQueue, waitUntil } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';
import { runningWith } from '../helpers/procs.ts';
import { SandboxCgroups } from '../../src/sandbox/cgroup.ts';

interface Outcome { status: string; text: string; summaries: string[]; all: string }

const STEP_TIMEOUT_MS = 8000;

describe('attacks from a step under SANDBOX=local (bubblewrap), through the API and the worker', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let api: (Proc & { url: string; token: string }) | undefined;
  const env = stackEnv();

  before(async () => {
    c = await connectClients();
    const user = await newUser(c, 100_000, 'attacker');
    const cfg = {
      ...env, TEMPORAL_TASK_QUEUE: uniqueQueue('attacks'), DEFAULT_USER_ID: user, SANDBOX: 'local',
      SHELL_TIMEOUT_MS: String(STEP_TIMEOUT_MS), SANDBOX_PIDS: '64', SANDBOX_MEMORY: '1Gi', SANDBOX_FILE_SIZE: '64Mi', SANDBOX_DISK: '256Mi',
      API_MAX_ACTIVE_RUNS: '50',
    };
    [worker, api] = await Promise.all([startWorker(cfg), startApi(cfg)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c?.close();
  });

  /** Runs a prompt to its end and returns what its log says. */
  async function attack(prompt: string): Promise<Outcome> {
    const id = await createRun(api!.url, prompt);
    const events = (await collect(api!.url, id, { timeoutMs: 120_000 })).map((m) => ({ event: m.event, data: parse(m) }));
    const text = events.filter((e) => e.event === 'log' && typeof e.data.text === 'string').map((e) => String(e.data.text)).join('\n');
    const summaries = events.filter((e) => e.event === 'step' && e.data.phase === 'completed').map((e) => String(e.data.summary));
    return { status: String(events.at(-1)?.data.status), text, summaries, all: JSON.stringify(events) };
  }

  /** The values a step must never see: the worker's credentials. */
  const secrets = () => {
    const db = new URL(env.DATABASE_URL!);
    return { S3_SECRET_ACCESS_KEY: env.S3_SECRET_ACCESS_KEY!, SUPABASE_JWT_SECRET: env.SUPABASE_JWT_SECRET!, SUPABASE_SERVICE_ROLE_KEY: env.SUPABASE_SERVICE_ROLE_KEY!, 'DATABASE_URL password': decodeURIComponent(db.password) };
  };

  it('cannot read the worker\'s environment through /proc/$PPID/environ or /proc/1/environ (the issue\'s exact prompt)', async () => {
    const r = await attack([
      'shell sh -c "tr \'\\\\0\' \'\\\\n\' < /proc/$PPID/environ; echo ppid=$PPID"',
      'shell sh -c "cat /proc/1/environ /proc/self/environ | tr \'\\\\0\' \'\\\\n\'; ls /proc | grep -c \'^[0-9]\'"',
    ].join('\n'));
    assert.equal(r.status, 'completed', r.all);
    for (const [name, value] of Object.entries(secrets())) {
      assert.ok(value.length >= 8, `${name} is set in the stack`);
      assert.ok(!r.all.includes(value), `${name} leaked into the run's log`);
    }
    // Its parent is the jail's init (pid 1 of its own pid namespace), which has no environment at all;
    // it sees only its own few processes and its own, minimal variables.
    assert.match(r.text, /ppid=1\b/);
    assert.ok(!/DATABASE_URL|SUPABASE|S3_|REDIS_URL|TEMPORAL_/.test(r.text), r.text);
    assert.match(r.text, /^PATH=\/opt\/agentrun-node\/bin:|^PATH=\/usr\/local\/bin:/m);
    const procs = Number(r.text.trim().split('\n').at(-1));
    assert.ok(procs > 0 && procs < 10, `sees ${procs} processes`);
  });

  it('sees no file outside its workspace copy: not the repo, .data/, /root, /home or the host\'s /etc', async () => {
    const paths = [`${ROOT}package.json`, `${ROOT}.data/stack/env`, '/root', '/home/sandbox/../..', '/etc/shadow', '/etc/passwd-', '/var/lib', '/proc/1/root/etc/hostname', '/sys/kernel'];
    const probe = paths.map((p) => `if ls -d '${p}' >/dev/null 2>&1 && cat '${p}' >/dev/null 2>&1; then echo READ ${p}; else echo DENIED ${p}; fi`).join('; ');
    // On the host, the same probe reads the repo and the stack's env file.
    const host = spawnSync('sh', ['-c', probe], { encoding: 'utf8' }).stdout;
    assert.match(host, new RegExp(`READ ${ROOT}package.json`));
    const r = await attack([
      `shell sh -c "${probe}"`,
      'shell sh -c "ls -A / | tr \'\\\\n\' \' \'; echo; ls -A /etc | tr \'\\\\n\' \' \'; echo; touch /usr/x /etc/x /x /dev/x 2>&1 | grep -c \'Read-only file system\'"',
    ].join('\n'));
    assert.equal(r.status, 'completed', r.all);
    for (const p of paths) assert.match(r.text, new RegExp(`DENIED ${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), r.text);
    assert.ok(!r.text.includes('READ '), r.text);
    const [root, etc, refusedWrites] = r.text.split('\n').slice(-3);
    const jailRoot = new Set(['bin', 'dev', 'etc', 'home', 'lib', 'lib32', 'lib64', 'libx32', 'opt', 'proc', 'run', 'sbin', 'tmp', 'usr', 'workspace']);
    for (const entry of root!.trim().split(' ')) assert.ok(jailRoot.has(entry), `the jail's / holds ${entry}`);
    assert.ok(!/\b(shadow|gshadow|ssh|sudoers|environment|machine-id)\b/.test(etc!), etc);
    assert.equal(refusedWrites!.trim(), '4');
  });

  it('cannot connect to the stack\'s loopback services (Redis, Postgres, Temporal, MinIO, PostgREST, the API), resolve names, or reach any other address', async () => {
    const port = (u: string) => Number(new URL(u).port);
    const ports = {
      redis: port(env.REDIS_URL!), postgres: port(env.DATABASE_URL!), temporal: Number(env.TEMPORAL_ADDRESS!.split(':')[1]),
      minio: port(env.S3_ENDPOINT!), postgrest: port(env.SUPABASE_URL!), api: port(api!.url),
    };
    const probe = Object.entries(ports).map(([name, p]) => `if timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${p}' 2>/dev/null; then echo OPEN ${name}; else echo CLOSED ${name}; fi`).join('; ');
    const host = spawnSync('bash', ['-c', probe], { encoding: 'utf8' }).stdout;
    for (const name of Object.keys(ports)) assert.match(host, new RegExp(`OPEN ${name}`), `the host probe reaches ${name}: ${host}`);
    const far = ['169.254.169.254/80', '1.1.1.1/53', '10.0.0.1/443'].map((a) => `if timeout 3 bash -c 'exec 3<>/dev/tcp/${a}' 2>/dev/null; then echo OPEN ${a}; else echo CLOSED ${a}; fi`).join('; ');
    const r = await attack([
      `shell bash -c "${probe}"`,
      `shell bash -c "${far}; getent hosts example.com >/dev/null && echo RESOLVED || echo NODNS; ip -o link 2>/dev/null | wc -l; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '"`,
    ].join('\n'));
    assert.equal(r.status, 'completed', r.all);
    for (const name of Object.keys(ports)) assert.match(r.text, new RegExp(`CLOSED ${name}`), r.text);
    for (const a of ['169.254.169.254/80', '1.1.1.1/53', '10.0.0.1/443']) assert.match(r.text, new RegExp(`CLOSED ${a.replace(/\./g, '\\.')}`));
    assert.match(r.text, /NODNS/);
    assert.ok(!r.text.includes('OPEN '), r.text);
    // Its network namespace has a loopback device and nothing else.
    assert.equal(r.text.trim().split('\n').at(-1), 'lo');
  });

  it('a fork bomb ends as a failed step with a reason, leaves nothing behind, and the worker serves another run meanwhile', async () => {
    const tok = `bomb${randomBytes(4).toString('hex')}`;
    const bomb = attack(`shell bash -c "b(){ b | b & }; b; sleep 60 # ${tok}"`);
    await waitUntil('the bomb going off', () => runningWith(tok).length > 10, 60_000);
    const other = await attack('write_file ok.txt fine\nshell cat ok.txt');
    assert.equal(other.status, 'completed', other.all);
    assert.match(other.text, /fine/);
    const r = await bomb;
    assert.equal(r.status, 'failed');
    assert.match(r.summaries[0]!, new RegExp(`^bash: timed out after ${STEP_TIMEOUT_MS} ms`));
    assert.match(r.text, /fork: (retry: )?Resource temporarily unavailable/);
    await waitUntil('every bomb process gone', () => runningWith(tok).length === 0, 10_000);
    assert.equal(worker!.child.exitCode, null, 'the worker is still running');
  });

  it('a memory hog fails with MemoryError under SANDBOX_MEMORY', async () => {
    const r = await attack('code python: x = bytearray(4 * 1024 ** 3)\\nprint("allocated", len(x))');
    assert.equal(r.status, 'failed');
    assert.match(r.summaries[0]!, /^python: exit code 1: MemoryError/);
    assert.ok(!r.text.includes('allocated'));
  });

  it('many processes, each under SANDBOX_MEMORY but together over it, meet the step\'s memory cgroup (where the worker can make one)', async () => {
    const r = await attack('shell sh -c "for i in 1 2 3; do python3 -c \'x = bytearray(500 * 1024 ** 2); import time; time.sleep(1)\' & done; wait; echo survived"');
    if (await SandboxCgroups.open()) {
      assert.equal(r.status, 'failed', r.all);
      assert.match(r.summaries[0]!, /stopped by the sandbox, its processes together reached the memory limit SANDBOX_MEMORY \(1073741824 bytes\): killed by the OOM killer/);
    } else {
      // Without cgroups (not root, or cgroup v2 without delegation) only the per-process limit holds.
      assert.equal(r.status, 'completed', r.all);
    }
  });

  it('a 10 GB file write stops at SANDBOX_FILE_SIZE with SIGXFSZ', async () => {
    const r = await attack('shell sh -c "head -c 10G /dev/zero > big.bin"');
    assert.equal(r.status, 'failed');
    assert.match(r.summaries[0]!, /^sh: exit code 153: stopped by the sandbox, a file reached the file size limit SANDBOX_FILE_SIZE \(67108864 bytes\): killed by SIGXFSZ/);
  });

  it('filling the disk with many files under the size limit is stopped at SANDBOX_DISK, and nothing is synced', async () => {
    const r = await attack('shell sh -c "i=0; while head -c 60M /dev/zero > f$i; do i=$((i+1)); done"\nlist_files');
    assert.equal(r.status, 'failed');
    assert.match(r.summaries[0]!, /^sh: exit code signal SIGKILL: stopped by the sandbox, the workspace grew past SANDBOX_DISK \(268435456 bytes\)/);
    assert.equal(r.summaries.length, 1, 'the run ended at the failed step');
  });

  it('a process that ignores SIGTERM is killed at the time limit, with its whole tree', async () => {
    const tok = `term${randomBytes(4).toString('hex')}`;
    const r = await attack(`shell sh -c "trap '' TERM; echo ready; while true; do sleep 1; done # ${tok}"`);
    assert.equal(r.status, 'failed');
    assert.match(r.summaries[0]!, new RegExp(`^sh: timed out after ${STEP_TIMEOUT_MS} ms`));
    assert.match(r.text, /ready/);
    await waitUntil('the step\'s processes gone', () => runningWith(tok).length === 0, 10_000);
  });

  it('a background child started with setsid is gone when the step ends', async () => {
    const tok = `setsid${randomBytes(4).toString('hex')}`;
    const r = await attack(`shell sh -c "setsid sh -c 'sleep 300 # ${tok}' & sleep 0.5; echo started"`);
    assert.equal(r.status, 'completed', r.all);
    assert.match(r.text, /started/);
    await waitUntil('the setsid child gone', () => runningWith(tok).length === 0, 10_000);
  });

  it('every shell step\'s log says which sandbox ran it', async () => {
    const id = await createRun(api!.url, 'shell true');
    const events = (await collect(api!.url, id)).map(parse);
    assert.ok(events.some((e) => e.phase === 'started' && e.sandbox === 'local'), JSON.stringify(events));
  });
});

describe('a jailed step when its worker dies', () => {
  let c: Clients;
  let worker: Proc | undefined;
  let api: (Proc & { url: string; token: string }) | undefined;

  before(async () => {
    c = await connectClients();
    const user = await newUser(c, 10_000, 'orphan');
    const cfg = { ...stackEnv(), TEMPORAL_TASK_QUEUE: uniqueQueue('orphan'), DEFAULT_USER_ID: user, SANDBOX: 'local' };
    [worker, api] = await Promise.all([startWorker(cfg), startApi(cfg)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    await c?.close();
  });

  it('dies with the worker (SIGKILL): nothing of the step outlives it', async () => {
    const tok = `orphan${randomBytes(4).toString('hex')}`;
    // The setsid child's command line is unique too: `sleep 300.NNNN`.
    const bg = `300.${String(Math.floor(Math.random() * 1e4)).padStart(4, '0')}1`;
    const id = await createRun(api!.url, `shell sh -c "setsid sleep ${bg} & sleep 300 # ${tok}"`);
    await waitUntil('the step running', () => runningWith(tok).length > 0 && runningWith(`sleep\0${bg}`).length > 0, 60_000);
    assert.ok(runningWith(`sleep\0${bg}`).every(isJailed), 'the setsid child runs as the jail\'s user');
    worker!.child.kill('SIGKILL');
    await worker!.exited;
    await waitUntil('the step\'s processes gone with the worker', () => runningWith(tok).length === 0 && runningWith(`sleep\0${bg}`).length === 0, 10_000);
    await c.temporal.workflow.getHandle(id).terminate('test over');
  });
});

/** Whether a host process runs as the jail's user (nobody) — what a jailed step's processes are here. */
function isJailed(pid: number): boolean {
  try {
    return /^Uid:\s+65534\b/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}
