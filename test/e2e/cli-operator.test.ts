/**
 * The operators' breaker commands of the `agentrun` CLI as a subprocess against the real API
 * and worker: a step that fails on purpose (`shell false`, with BREAKER_FAILURES=1) opens the
 * user's shell breaker; `agentrun queue` shows it (user, tool, until, failures), in its
 * --json document too, and `agentrun breakers --user` lists it; `agentrun breakers reset`
 * closes it, after which the queue view no longer shows it and the tool runs again. A user
 * who is not an operator is refused each command with exit 4 and the API's reason.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { mintToken } from '../helpers/auth.ts';
import { cliStack } from '../helpers/cli.ts';
import type { CliStack } from '../helpers/cli.ts';

const OPERATOR = `ops-${randomBytes(4).toString('hex')}`;
const FORBIDDEN = 'agentrun: forbidden: operator routes need an operator (a user id listed in AUTH_OPERATORS)';

interface QueueDoc { queues: Record<string, { count: number }>; breakers: { userId: string; tool: string; failures: number; open: boolean; openUntil: string }[] }

describe('the agentrun CLI: operators and the tool breakers', () => {
  let s: CliStack;
  let user: string;
  let opsToken: string;

  /** `agentrun …args` as the user, or as the operator; resolves when it exits. */
  const cli = (args: string[], asOperator = false) => s.cli(args, asOperator ? { env: { AGENTRUN_TOKEN: opsToken } } : {}).done;
  const ops = (args: string[]) => cli(args, true);

  before(async () => {
    s = await cliStack('cli-ops', { AUTH_OPERATORS: OPERATOR, BREAKER_FAILURES: '1', BREAKER_COOLDOWN_S: '600' }, 10_000);
    user = s.user;
    opsToken = await mintToken(OPERATOR);
  });
  after(() => s?.close());

  it('a failed step opens the breaker: agentrun queue shows it (also in --json), breakers reset closes it, and the tool runs again', async () => {
    assert.equal((await cli(['run', 'shell false'])).code, 1);

    const view = await ops(['queue']);
    assert.equal(view.code, 0, view.stderr);
    assert.match(view.stdout, /^QUEUE\s+ENTRIES\s+OLDEST$/m);
    const row = new RegExp(`^${user}\\s+shell\\s+open until (\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z)\\s+1$`, 'm');
    const until = row.exec(view.stdout)?.[1];
    assert.ok(until, view.stdout);
    assert.ok(Date.parse(until) > Date.now(), 'open until a time to come');

    const doc = JSON.parse((await ops(['--json', 'queue'])).stdout) as QueueDoc;
    assert.ok(Object.values(doc.queues).length > 0 && Object.values(doc.queues).every((q) => Number.isInteger(q.count)), 'the queue stats are still there');
    const mine = doc.breakers.filter((b) => b.userId === user);
    assert.deepEqual(mine.map(({ tool, failures, open, openUntil }) => ({ tool, failures, open, openUntil })), [{ tool: 'shell', failures: 1, open: true, openUntil: until }]);
    assert.ok(doc.breakers.every((b) => b.open), 'the queue view shows open breakers only');

    const listed = JSON.parse((await ops(['--json', 'breakers', '--user', user])).stdout) as { breakers: { userId: string; tool: string }[] };
    assert.deepEqual(listed.breakers.map((b) => [b.userId, b.tool]), [[user, 'shell']]);

    const reset = await ops(['breakers', 'reset', user, 'shell']);
    assert.deepEqual([reset.code, reset.stdout.trim()], [0, `${user}: the shell breaker is reset; its steps run again`], reset.stderr);
    assert.doesNotMatch((await ops(['queue'])).stdout, new RegExp(`^${user}\\s`, 'm'), 'gone from the queue view');
    assert.deepEqual((JSON.parse((await ops(['--json', 'queue'])).stdout) as QueueDoc).breakers.filter((b) => b.userId === user), []);
    assert.equal((await ops(['breakers', '--user', user])).stdout.trim(), `no breakers for ${user}`);
    assert.equal((await cli(['run', 'shell echo again'])).code, 0, 'the tool runs again');

    const twice = await ops(['breakers', 'reset', user, 'shell']);
    assert.deepEqual([twice.code, twice.stderr.trim()], [4, `agentrun: not_found: no breaker for shell of ${user}`]);
  });

  it('a user who is not an operator is refused queue, breakers and breakers reset: exit 4 with the API\'s reason', async () => {
    for (const args of [['queue'], ['breakers'], ['breakers', 'reset', user, 'shell']]) {
      const refused = await cli(args);
      assert.deepEqual([refused.code, refused.stderr.trim(), refused.stdout], [4, FORBIDDEN, ''], args.join(' '));
    }
    const json = await cli(['--json', 'breakers', 'reset', user, 'shell']);
    assert.equal(json.code, 4);
    assert.deepEqual(JSON.parse(json.stderr), { error: { code: 'forbidden', message: 'forbidden: operator routes need an operator (a user id listed in AUTH_OPERATORS)' } });
  });
});
