/**
 * The `agentrun` CLI as a subprocess (bin/agentrun.js) against the real API and worker:
 * exit codes by outcome, NDJSON with --json, the controls, files, accounts, login's config
 * file; a follow that survives the API restarting mid-run and a token expiring mid-follow
 * with no line lost or repeated; and, through a pseudo-terminal (util-linux `script`), the
 * colours, the y/n approval prompt (Enter and Ctrl-C at it do not reject; approved elsewhere
 * it goes away), Ctrl-C detaching and a second Ctrl-C cancelling.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { stripVTControlCharacters } from 'node:util';
import { freeLoopbackPort } from '../../src/infra/free-port.ts';
import { mintToken } from '../helpers/auth.ts';
import { cliStack, ndjson, stdoutLines } from '../helpers/cli.ts';
import type { Cli, CliStack } from '../helpers/cli.ts';
import { waitUntil } from '../helpers/stack.ts';
import type { Clients } from '../helpers/stack.ts';

const OPERATOR = `ops-${randomBytes(4).toString('hex')}`;

describe('the agentrun CLI', () => {
  let s: CliStack;
  let c: Clients;
  let user: string;
  let token: string;
  let home: string;
  /** `agentrun …args` with the user's token (unless env says otherwise); `tty` runs it in a pseudo-terminal. */
  const cli = (args: string[], opts: { env?: Record<string, string>; tty?: boolean } = {}): Cli => s.cli(args, opts);
  const lines = stdoutLines;

  before(async () => {
    s = await cliStack('cli', { AUTH_OPERATORS: OPERATOR });
    ({ c, user, token, home } = s);
  });
  after(() => s?.close());

  it('exit codes are the outcome: 0 completed (NDJSON with --json), 1 failed, 2 cancelled, 3 usage errors, 4 refusals and an unreachable API', async () => {
    const ok = await cli(['--json', 'run', 'write_file a.txt hello\nread_file a.txt']).done;
    assert.equal(ok.code, 0, ok.stderr);
    const events = ndjson(ok.stdout);
    assert.equal(events[0]!.event, 'started');
    assert.equal(events.at(-1)!.event, 'end');
    assert.equal(events.at(-1)!.data.status, 'completed');
    const ids = events.slice(1).map((e) => e.id!);
    assert.deepEqual([...new Set(ids)], ids, 'each event once');
    assert.equal((await cli(['run', 'shell false']).done).code, 1);
    const slow = cli(['run', 'shell sleep 30']);
    const id = await waitUntil('run started', () => /run (run_\w+) queued/.exec(slow.output())?.[1]);
    await waitUntil('step running', () => slow.output().includes('step 1/1 shell'));
    const cancelled = await cli(['cancel', id]).done;
    assert.equal(cancelled.code, 0, cancelled.stderr);
    const slowDone = await slow.done;
    assert.equal(slowDone.code, 2, slowDone.stdout);
    assert.match(slowDone.stdout, /■ cancelled/);
    for (const args of [['run'], ['list', '--limit', '0'], ['run', 'x', '--priority', 'high'], ['frobnicate']]) {
      assert.equal((await cli(args).done).code, 3, args.join(' '));
    }
    const missing = await cli(['status', 'run_00000000000000000000000000']).done;
    assert.deepEqual([missing.code, missing.stderr.trim()], [4, 'agentrun: not_found: run run_00000000000000000000000000 not found']);
    const nobody = await cli(['me'], { env: { AGENTRUN_URL: `http://127.0.0.1:${await freeLoopbackPort()}` } }).done;
    assert.equal(nobody.code, 4);
    assert.match(nobody.stderr, /cannot reach the API/);
    const denied = await cli(['me'], { env: { AGENTRUN_TOKEN: 'not-a-token' } }).done;
    assert.deepEqual([denied.code, /invalid_token/.test(denied.stderr)], [4, true]);
  });

  it('status, list, logs (up to now, or followed), files, message, pause and resume, approve and reject, me', async () => {
    const waiting = cli(['--json', 'run', '--approve', 'write_file notes/a.txt first\nwrite_file notes/b.txt second']);
    const id = await waitUntil('awaiting approval', async () => {
      const r = await cli(['--json', 'list', '--status', 'awaiting_approval']).done;
      return (JSON.parse(r.stdout) as { runs: { id: string }[] }).runs[0]?.id;
    });
    const now = await cli(['logs', id]).done;
    assert.equal(now.code, 0, 'logs stops once caught up');
    assert.match(now.stdout, /approval needed/);
    assert.equal((await cli(['message', id, 'take care']).done).code, 0);
    assert.equal((await cli(['approve', id, '--comment', 'go']).done).code, 0);
    assert.equal((await waiting.done).code, 0);
    const status = await cli(['status', id]).done;
    assert.match(status.stdout, new RegExp(`${id}  completed`));
    const listed = await cli(['files', id]).done;
    assert.match(listed.stdout, /notes\/a\.txt/);
    assert.equal((await cli(['files', id, 'notes/b.txt']).done).stdout, 'second');
    const out = join(home, 'a.txt');
    assert.equal((await cli(['files', id, 'notes/a.txt', '-o', out]).done).code, 0);
    assert.equal(readFileSync(out, 'utf8'), 'first');
    const full = await cli(['logs', id, '--json']).done;
    assert.equal(ndjson(full.stdout).at(-1)!.event, 'end');
    const rejected = cli(['run', '--approve', 'write_file x.txt never']);
    const id2 = await waitUntil('second run waits', () => /run (run_\w+) queued/.exec(rejected.output())?.[1]);
    await waitUntil('its approval', async () => (await c.store.getRun(id2))?.status === 'awaiting_approval');
    assert.equal((await cli(['reject', id2, '--comment', 'no']).done).code, 0);
    assert.equal((await rejected.done).code, 2, 'a rejected plan ends the run cancelled');
    // Its first step outlasts a slow machine's `agentrun pause` start, so the pause lands before the second step.
    const paused = cli(['run', 'shell sleep 6\nwrite_file after.txt resumed']);
    const id3 = await waitUntil('third run', () => /run (run_\w+) queued/.exec(paused.output())?.[1]);
    assert.equal((await cli(['pause', id3]).done).code, 0);
    await waitUntil('paused', async () => (await c.store.getRun(id3))?.status === 'paused', 30_000);
    assert.equal((await cli(['resume', id3]).done).code, 0);
    assert.equal((await paused.done).code, 0);
    const me = await cli(['--json', 'me']).done;
    assert.equal((JSON.parse(me.stdout) as { userId: string }).userId, user);
  });

  it('files RUN PATH --json: one document with the path, size, type and the text; with -o, where it went; bytes that are not UTF-8 are refused (exit 3, naming -o)', async () => {
    const ran = await cli(['--json', 'run', 'write_file doc/note.md héllo\nshell sh -c "printf \'\\\\377\\\\376\\\\000x\' > doc/bin.dat"']).done;
    assert.equal(ran.code, 0, ran.stderr);
    const id = ndjson(ran.stdout)[0]!.id!;
    const text = await cli(['--json', 'files', id, 'doc/note.md']).done;
    assert.equal(text.code, 0, text.stderr);
    const doc = JSON.parse(text.stdout) as { path: string; size: number; contentType: string; content: string };
    assert.deepEqual([doc.path, doc.size, doc.content], ['doc/note.md', Buffer.byteLength('héllo'), 'héllo']);
    assert.match(doc.contentType, /^text\//);
    const binary = await cli(['--json', 'files', id, 'doc/bin.dat']).done;
    assert.equal(binary.code, 3, binary.stderr);
    assert.equal(binary.stdout, '', 'nothing on stdout');
    assert.match((JSON.parse(binary.stderr) as { error: { code: string; message: string } }).error.message, /not UTF-8 text.* -o FILE/);
    const out = join(home, 'bin.dat');
    const saved = await cli(['--json', 'files', id, 'doc/bin.dat', '-o', out]).done;
    assert.equal(saved.code, 0, saved.stderr);
    assert.deepEqual(readFileSync(out), Buffer.from([0xff, 0xfe, 0x00, 0x78]));
    const meta = JSON.parse(saved.stdout) as Record<string, unknown>;
    assert.deepEqual({ ...meta, contentType: typeof meta.contentType }, { path: 'doc/bin.dat', size: 4, contentType: 'string', output: out });
    assert.equal((await cli(['files', id, 'doc/bin.dat']).done).stdout.length > 0, true, 'without --json the bytes go to stdout as before');
  });

  it('fork: a new run after step N, followed to its end; a fork after the last step is refused (exit 4, the reason)', async () => {
    const parent = await cli(['--json', 'run', 'write_file f.txt one\nwrite_file f.txt two\nread_file f.txt']).done;
    const id = ndjson(parent.stdout)[0]!.id!;
    const forked = await cli(['--json', 'fork', id, '--from-step', '1']).done;
    assert.equal(forked.code, 0, forked.stderr);
    const events = ndjson(forked.stdout);
    assert.deepEqual(events[0]!.data.forkOf, { runId: id, step: 1 });
    assert.equal(events.at(-1)!.data.status, 'completed');
    assert.ok(events.some((e) => e.event === 'log' && e.data.path === 'f.txt' && e.data.text === 'two'), 'its steps after step 1 ran');
    const last = await cli(['fork', id, '--from-step', '3']).done;
    assert.equal(last.code, 4);
    assert.match(last.stderr, /nothing_after_step: step 3 was the last of run/);
  });

  it('operators: queue and credits grant, once per --key; others are refused', async () => {
    const ops = await mintToken(OPERATOR);
    const queue = await cli(['queue'], { env: { AGENTRUN_TOKEN: ops } }).done;
    assert.equal(queue.code, 0, queue.stderr);
    const grant = ['--json', 'credits', 'grant', user, '25', '--note', 'cli test', '--key', `k-${randomBytes(3).toString('hex')}`];
    const first = JSON.parse((await cli(grant, { env: { AGENTRUN_TOKEN: ops } }).done).stdout) as { replayed: boolean; balance: { available: number } };
    const again = JSON.parse((await cli(grant, { env: { AGENTRUN_TOKEN: ops } }).done).stdout) as { replayed: boolean; balance: { available: number } };
    assert.deepEqual([first.replayed, again.replayed, again.balance.available], [false, true, first.balance.available]);
    const refused = await cli(['credits', 'grant', user, '25', '--note', 'me'], { env: {} }).done;
    assert.deepEqual([refused.code, /forbidden/.test(refused.stderr)], [4, true]);
  });

  it('login checks the token and keeps it in a 0600 config file that later commands use; a bad token writes nothing; a file others can read is refused', async () => {
    const config = join(home, 'cfg', 'agentrun', 'config.json');
    const bad = await cli(['login', '--token', 'nope'], { env: { AGENTRUN_CONFIG: config, AGENTRUN_TOKEN: '' } }).done;
    assert.equal(bad.code, 4);
    assert.equal(existsSync(config), false);
    const ok = await cli(['login', '--url', s.api.url, '--token', token], { env: { AGENTRUN_CONFIG: config, AGENTRUN_TOKEN: '', AGENTRUN_URL: '' } }).done;
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(statSync(config).mode & 0o777, 0o600);
    assert.equal(statSync(join(home, 'cfg', 'agentrun')).mode & 0o777, 0o700);
    const me = await cli(['me'], { env: { AGENTRUN_CONFIG: config, AGENTRUN_TOKEN: '', AGENTRUN_URL: '' } }).done;
    assert.match(me.stdout, new RegExp(`^${user}: `));
    chmodSync(config, 0o644);
    const open = await cli(['me'], { env: { AGENTRUN_CONFIG: config, AGENTRUN_TOKEN: '' } }).done;
    assert.equal(open.code, 3);
    assert.match(open.stderr, /may be read by other users/);
  });

  it('a follow survives the API restarting mid-run: every line once, in order', async () => {
    const prompt = 'shell sh -c "i=1; while [ $i -le 60 ]; do echo line-$i; i=$((i+1)); sleep 0.05; done"';
    const follow = cli(['--json', 'run', prompt]);
    await waitUntil('some lines', () => (follow.output().match(/line-\d+/g) ?? []).length >= 5, 30_000);
    await s.restartApi();
    const done = await follow.done;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, /reconnecting/);
    assert.deepEqual(lines(ndjson(done.stdout)), Array.from({ length: 60 }, (_, i) => `line-${i + 1}`));
  });

  it('a token expiring mid-follow: a new token from the config file carries on with no line lost; without one the CLI stops with the reason', async () => {
    const config = join(home, 'expiring.json');
    const prompt = 'shell sh -c "i=1; while [ $i -le 100 ]; do echo tick-$i; i=$((i+1)); sleep 0.1; done"';
    // The CLI must follow with the old token first: the new one is written once its first line
    // is out (written as soon as the run existed, a slow CLI's stream opened with the new one and
    // nothing expired). The old token lasts 8 s, long enough for that first line on a loaded
    // machine; the 100 lines take 10 s from the run's start, so it expires mid-follow.
    writeFileSync(config, JSON.stringify({ token: await mintToken(user, { expiresInS: 8 }) }), { mode: 0o600 });
    const renewed = cli(['--json', 'run', prompt], { env: { AGENTRUN_CONFIG: config, AGENTRUN_TOKEN: '' } });
    await waitUntil('the first line followed', () => renewed.output().includes('tick-1'), 30_000);
    writeFileSync(config, JSON.stringify({ token: await mintToken(user) }), { mode: 0o600 });
    const done = await renewed.done;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, /token expired/);
    assert.deepEqual(lines(ndjson(done.stdout)), Array.from({ length: 100 }, (_, i) => `tick-${i + 1}`));

    writeFileSync(config, JSON.stringify({ token: await mintToken(user, { expiresInS: 2 }) }), { mode: 0o600 });
    const stale = await cli(['run', prompt], { env: { AGENTRUN_CONFIG: config, AGENTRUN_TOKEN: '' } }).done;
    assert.equal(stale.code, 4);
    assert.match(stale.stderr, /token expired: sign in again/);
  });

  it('on a terminal: colours, a spinner, the y/n approval prompt; Ctrl-C detaches (130) and a second Ctrl-C cancels (2)', async () => {
    const approve = cli(['run', '--approve', 'write_file t.txt tty'], { tty: true });
    await waitUntil('the prompt', () => /Approve the plan of run_\w+\? \[y\/n\]/.test(approve.output()), 30_000);
    approve.write('y\r');
    const approved = await approve.done;
    assert.equal(approved.code, 0, approved.stdout);
    assert.ok(approved.stdout.includes('\u001b[32m✔'), 'colours on a terminal');
    assert.match(stripVTControlCharacters(approved.stdout), /✔ step 1\/1 write_file/);

    const detach = cli(['run', 'shell sleep 20'], { tty: true });
    await waitUntil('running', () => detach.output().includes('step 1/1 shell'), 30_000);
    detach.write('\x03');
    const detached = await detach.done;
    assert.equal(detached.code, 130, detached.stdout);
    assert.match(stripVTControlCharacters(detached.stdout), /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] step 1\/1 shell {2}\d+\.\ds/, 'a spinner on the running step, with its time');
    const id = /Re-attach: agentrun logs (run_\w+) --follow/.exec(detached.stdout)?.[1];
    assert.ok(id, detached.stdout);
    assert.equal((await c.store.getRun(id))?.status, 'running', 'the run goes on');
    await cli(['cancel', id]).done;

    const cancel = cli(['run', 'shell sleep 20'], { tty: true });
    await waitUntil('running', () => cancel.output().includes('step 1/1 shell'), 30_000);
    cancel.write('\x03');
    // The second press well inside the 2 s window: waiting to see the first note through
    // the terminal first could, on a loaded machine, leave too little of it.
    await delay(300);
    cancel.write('\x03');
    await waitUntil('the question', () => /Cancel run run_\w+\? \[y\/N\]/.test(cancel.output()));
    assert.ok(cancel.output().includes('press Ctrl-C again'), 'the first Ctrl-C says what a second one does');
    cancel.write('y\r');
    const cancelled = await cancel.done;
    assert.equal(cancelled.code, 2, cancelled.stdout);
    assert.match(stripVTControlCharacters(cancelled.stdout), /■ cancelled/);
  });

  it('at the y/n approval prompt: Enter asks again and Ctrl-C detaches (the plan still waits); approved elsewhere, the prompt goes away and the run is followed to its end; Ctrl-C twice offers to cancel', async () => {
    const PROMPT = /Approve the plan of (run_\w+)\? \[y\/n\] /;
    const prompts = (cli: Cli) => [...cli.output().matchAll(new RegExp(PROMPT, 'g'))].length;
    const awaiting = async (id: string) => (await c.store.getRun(id))?.status === 'awaiting_approval';

    const detach = cli(['run', '--approve', 'write_file p.txt kept'], { tty: true });
    const id = await waitUntil('the prompt', () => PROMPT.exec(detach.output())?.[1], 30_000);
    const shown = prompts(detach);
    detach.write('\r');
    await waitUntil('asked again', () => prompts(detach) > shown);
    assert.ok(await awaiting(id), 'an empty answer is no answer');
    detach.write('\x03');
    const detached = await detach.done;
    assert.equal(detached.code, 130, detached.stdout);
    assert.match(detached.stdout, new RegExp(`Re-attach: agentrun logs ${id} --follow`));
    assert.ok(await awaiting(id), 'Ctrl-C at the prompt does not reject the plan');
    const history = ndjson((await cli(['--json', 'logs', id]).done).stdout);
    assert.ok(!history.some((e) => e.event === 'approval' && e.data.approved !== undefined), 'no decision was sent');

    const elsewhere = cli(['logs', id, '--follow'], { tty: true });
    await waitUntil('the prompt again, on re-attaching', () => prompts(elsewhere) > 0, 30_000);
    assert.equal((await cli(['approve', id, '--comment', 'from elsewhere']).done).code, 0);
    const followed = await elsewhere.done;
    assert.equal(followed.code, 0, followed.stdout);
    const seen = stripVTControlCharacters(followed.stdout);
    assert.match(seen, /\? approved: from elsewhere[\s\S]*✔ step 1\/1 write_file[\s\S]*■ completed/);
    const last = followed.stdout.lastIndexOf('[y/n] ');
    assert.ok(followed.stdout.slice(last).startsWith('[y/n] \r\u001b[2K'), 'the prompt was taken away');

    const cancel = cli(['run', '--approve', 'write_file q.txt never'], { tty: true });
    await waitUntil('its prompt', () => prompts(cancel) > 0, 30_000);
    cancel.write('\x03');
    await delay(300); // well inside the 2 s window, as in the test above
    cancel.write('\x03');
    await waitUntil('the cancel question', () => /Cancel run run_\w+\? \[y\/N\]/.test(cancel.output()));
    cancel.write('y\r');
    const cancelled = await cancel.done;
    assert.equal(cancelled.code, 2, cancelled.stdout);
    assert.match(stripVTControlCharacters(cancelled.stdout), /■ cancelled/);
  });
});
