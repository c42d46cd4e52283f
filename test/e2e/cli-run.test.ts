/**
 * `agentrun run`'s options and what its timeline says, end to end (the CLI as a subprocess,
 * the real API and worker): --priority lands on the run record, --budget is the run's
 * reservation and a step it cannot pay waits for more credits, --workspace works in an
 * earlier run's files; the credits figure the timeline ends with is the run's charge; and
 * `agentrun logs RUN --follow` survives the API restarting mid-run with every line once.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { cliStack, ndjson, stdoutLines } from '../helpers/cli.ts';
import type { Cli, CliStack } from '../helpers/cli.ts';
import { waitUntil } from '../helpers/stack.ts';
import type { Clients } from '../helpers/stack.ts';

describe('agentrun run: its options, its credits, and logs --follow across an API restart', () => {
  let s: CliStack;
  let c: Clients;
  const cli = (args: string[]): Cli => s.cli(args);
  const runJson = async (args: string[]) => {
    const done = await cli(['--json', 'run', ...args]).done;
    assert.equal(done.code, 0, done.stderr);
    const events = ndjson(done.stdout);
    return { id: events[0]!.id!, events };
  };

  before(async () => {
    s = await cliStack('cli-run');
    ({ c } = s);
  });
  after(() => s?.close());

  it('--priority is the run record\'s priority; --workspace RUN sees the files that run left', async () => {
    const word = `w-${randomBytes(4).toString('hex')}`;
    const first = await runJson(['--priority', '2', `write_file shared/w.txt ${word}`]);
    assert.equal((await c.store.getRun(first.id))?.priority, 2);
    const listed = JSON.parse((await cli(['--json', 'list', '--limit', '5']).done).stdout) as { runs: { id: string; priority: number }[] };
    assert.equal(listed.runs.find((r) => r.id === first.id)?.priority, 2, 'and list shows it');

    const second = await runJson(['--workspace', first.id, 'read_file shared/w.txt']);
    assert.ok(second.events.some((e) => e.event === 'log' && e.data.path === 'shared/w.txt' && e.data.text === word), 'the earlier run\'s file, read in the same workspace');
    assert.equal((await cli(['files', second.id, 'shared/w.txt']).done).stdout, word);
  });

  it('--budget N is the run\'s reservation: a step it cannot pay up front waits for credits, and approve --extra-credits adds them', async () => {
    const follow = cli(['--json', 'run', '--budget', '1', 'shell echo paid-for']);
    const wait = await waitUntil('a budget wait', () => ndjson(follow.stdout()).find((e) => e.event === 'approval' && e.data.kind === 'budget'), 30_000);
    const { needed, left } = wait.data as { needed: number; left: number };
    assert.ok(left <= 1 && needed > left, JSON.stringify(wait.data));
    const extra = needed + 5;
    const id = ndjson(follow.stdout())[0]!.id!;
    assert.equal((await c.store.getRun(id))?.status, 'awaiting_approval');
    assert.equal((await cli(['approve', id, '--extra-credits', String(extra)]).done).code, 0);
    const done = await follow.done;
    assert.equal(done.code, 0, done.stderr);
    const events = ndjson(done.stdout);
    assert.deepEqual(stdoutLines(events), ['paid-for']);
    const reserved = events.filter((e) => e.event === 'usage' && typeof e.data.runReserved === 'number').map((e) => e.data.runReserved as number);
    assert.equal(Math.max(...reserved), 1 + extra, `the reservation: 1 from --budget, then ${extra} more (${JSON.stringify(reserved)})`);
  });

  it('the timeline ends with the credits the run was charged', async () => {
    const done = await cli(['run', 'write_file c.txt credits\nread_file c.txt']).done;
    assert.equal(done.code, 0, done.stderr);
    const id = /run (run_\w+) queued/.exec(done.stderr)?.[1];
    assert.ok(id, done.stderr);
    const credits = Number(/■ completed {2}\d+\.\ds · (\d+) credit\(s\)\n$/.exec(done.stdout)?.[1]);
    const run = JSON.parse((await cli(['--json', 'status', id]).done).stdout) as { usage: { credits: number } };
    assert.ok(credits > 0, done.stdout);
    assert.equal(credits, run.usage.credits);
  });

  it('logs RUN --follow survives the API restarting mid-run: every line once, in order', async () => {
    const prompt = 'shell sh -c "i=1; while [ $i -le 60 ]; do echo line-$i; i=$((i+1)); sleep 0.05; done"';
    const started = cli(['--json', 'run', prompt]);
    const id = await waitUntil('the run', () => ndjson(started.stdout())[0]?.id ?? undefined);
    const logs = cli(['--json', 'logs', id, '--follow']);
    await waitUntil('some lines', () => (logs.output().match(/line-\d+/g) ?? []).length >= 5, 30_000);
    await s.restartApi();
    const done = await logs.done;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, /reconnecting/);
    assert.deepEqual(stdoutLines(ndjson(done.stdout)), Array.from({ length: 60 }, (_, i) => `line-${i + 1}`));
    assert.equal((await started.done).code, 0);
  });
});
