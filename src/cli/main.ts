/**
 * Entry point of the `agentrun` CLI (bin/agentrun.js): commander's parsing, the API client
 * (HTTP only, src/client), and one exit-code scheme — 0 completed, 1 failed, 2 cancelled,
 * 3 usage error (bad arguments, or the API refused the request as invalid), 4 the API
 * refused or could not be reached, 130 detached with Ctrl-C.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ApiClient, ApiError } from '../client/api.ts';
import { adjust, breakers, control, files, list, login, queue, resetBreaker, showAccount, showRun } from './commands.ts';
import { EXIT, followCommand, forkCommand, runCommand } from './follow.ts';
import { Terminal } from './render.ts';
import { resolveTarget, UsageError } from './settings.ts';

interface Globals { url?: string; token?: string; json?: boolean }

const positiveInt = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number of at least 1`);
  return n;
};
const credits = (value: string) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('credits must be a whole number of at least 1');
  return n;
};

export function program(exit: (code: number) => void): Command {
  const cli = new Command('agentrun')
    .description('Durable AI agent runs: start, follow and control them over the agentrun API')
    .option('--url <url>', 'the API (default: AGENTRUN_URL, the config file, or http://127.0.0.1:18080)')
    .option('--token <token>', 'a JWT or API key (default: AGENTRUN_TOKEN, or the config file agentrun login writes)')
    .option('--json', 'one JSON document per command (NDJSON while following)')
    .showHelpAfterError()
    .exitOverride();
  const ctx = () => {
    const g = cli.opts<Globals>();
    const target = resolveTarget(g);
    return { client: new ApiClient(target.url, target.token), term: new Terminal(g.json === true), url: target.url };
  };
  const interactive = () => process.stdin.isTTY === true && process.stdout.isTTY === true && cli.opts<Globals>().json !== true;
  const done = (p: Promise<unknown>) => p.then(() => exit(0));

  cli.command('login').description('check a token against the API and keep it (and the URL) in the config file, mode 0600')
    .action(() => { const g = cli.opts<Globals>(); const { url, term } = ctx(); return done(login(term, url, g.token)); });
  cli.command('run').description('start a run and follow it to its end; the exit code is its outcome')
    .argument('<prompt>', 'what to do (the offline provider reads one tool step per line)')
    .option('--approve', 'require an approval of the plan before any step runs (asked here when a terminal is attached)')
    .addOption(new Option('--priority <n>', '1 (first) … 5 (last)').argParser(positiveInt('--priority')))
    .addOption(new Option('--budget <credits>', 'credits to reserve for the run').argParser(credits))
    .option('--workspace <run>', 'work in the workspace of an earlier run of yours')
    .action(async (prompt: string, o: { approve?: boolean; priority?: number; budget?: number; workspace?: string }) => {
      const { client, term } = ctx();
      exit(await runCommand(client, term, { prompt, requireApproval: o.approve, priority: o.priority, budget: o.budget, workspaceId: o.workspace }, interactive()));
    });
  cli.command('fork').description('a new run after step N of an ended run, with its workspace as it was after step N; followed like run')
    .argument('<run>').requiredOption('--from-step <n>', 'the step (1 is the first) after which the new run starts', positiveInt('--from-step'))
    .option('--approve', 'require an approval of the fork\'s plan before any step runs')
    .action(async (id: string, o: { fromStep: number; approve?: boolean }) => {
      const { client, term } = ctx();
      exit(await forkCommand(client, term, id, { fromStep: o.fromStep, requireApproval: o.approve }, interactive()));
    });
  cli.command('logs').description('a run\'s events so far; with --follow, on to its end (resuming across disconnects)')
    .argument('<run>').option('-f, --follow', 'keep following until the run ends').option('--after <eventId>', 'start after this event id')
    .action(async (id: string, o: { follow?: boolean; after?: string }) => {
      const { client, term } = ctx();
      exit(await followCommand(client, term, id, { follow: o.follow === true, interactive: interactive(), lastEventId: o.after }));
    });
  cli.command('status').description('a run: status, plan, steps, credits, error').argument('<run>')
    .action(async (id: string) => { const { client, term } = ctx(); showRun(term, await client.getRun(id)); exit(0); });
  cli.command('list').description('your runs, newest first')
    .option('--status <statuses>', 'only these statuses, comma-separated (e.g. running,paused)')
    .addOption(new Option('--limit <n>', 'how many').default(20).argParser(positiveInt('--limit')))
    .action((o: { status?: string; limit: number }) => { const { client, term } = ctx(); return done(list(client, term, o)); });
  cli.command('approve').description('approve a run\'s plan or budget wait').argument('<run>')
    .option('--comment <text>').addOption(new Option('--extra-credits <n>', 'credits to add to the run\'s budget').argParser(credits))
    .action((id: string, o: { comment?: string; extraCredits?: number }) => {
      const { client, term } = ctx();
      return done(control(client, term, id, 'approve', { approved: true, comment: o.comment, extraCredits: o.extraCredits }));
    });
  cli.command('reject').description('reject a run\'s plan or budget wait (the run ends)').argument('<run>').option('--comment <text>')
    .action((id: string, o: { comment?: string }) => { const { client, term } = ctx(); return done(control(client, term, id, 'approve', { approved: false, comment: o.comment })); });
  for (const action of ['pause', 'resume', 'cancel'] as const) {
    cli.command(action).description(`${action} a run`).argument('<run>')
      .action((id: string) => { const { client, term } = ctx(); return done(control(client, term, id, action)); });
  }
  cli.command('message').description('a message for the run\'s supervisor (an answer to its question, or guidance)').argument('<run>').argument('<text>')
    .action((id: string, text: string) => { const { client, term } = ctx(); return done(control(client, term, id, 'messages', { text })); });
  cli.command('files').description('the files of a run\'s workspace; with a path, that file (to stdout, or -o FILE); with --json, its path, size and type, and its content if it is UTF-8 text')
    .argument('<run>').argument('[path]').option('-o, --output <file>', 'write the file here')
    .action((id: string, path: string | undefined, o: { output?: string }) => { const { client, term } = ctx(); return done(files(client, term, id, path, o.output)); });
  cli.command('me').description('your account: credits, limits with what is used, runs going')
    .action(async () => { const { client, term } = ctx(); showAccount(term, await client.me()); exit(0); });
  cli.command('queue').description('operators: the jobs:* queue facade (counts, oldest ages) and the tool breakers open now')
    .action(() => { const { client, term } = ctx(); return done(queue(client, term)); });
  // `breakers` lists; `breakers reset USER TOOL` is its one subcommand (commander runs the list when no subcommand is named).
  const breakersCmd = cli.command('breakers').description('operators: the tool breakers with failures on record (work:backoff), open ones first')
    .option('--user <user>', 'only this user\'s')
    .action((o: { user?: string }) => { const { client, term } = ctx(); return done(breakers(client, term, o.user)); });
  breakersCmd.command('reset').description('close a user\'s breaker for a tool: its steps run again').argument('<user>').argument('<tool>', 'e.g. shell, fetch_url, mcp:server.tool')
    .action((user: string, tool: string) => { const { client, term } = ctx(); return done(resetBreaker(client, term, user, tool)); });
  const creditsCmd = cli.command('credits').description('operators: grant or deduct a user\'s credits');
  for (const [name, sign] of [['grant', 1], ['deduct', -1]] as const) {
    creditsCmd.command(name).description(`${name} credits (once per --key)`).argument('<user>').argument('<credits>', 'how many', credits)
      .requiredOption('--note <text>', 'why (kept on the ledger row)').option('--key <idempotency-key>', 'retry-safe key (default: a new one, printed)')
      .action((user: string, n: number, o: { note: string; key?: string }) => { const { client, term } = ctx(); return done(adjust(client, term, user, sign * n, o.note, o.key)); });
  }
  return cli;
}

/** Runs the CLI on argv; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  // A reader that went away (`| head`) ends the command quietly, as other tools do.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  let code: number | undefined;
  const cli = program((c) => { code = c; });
  try {
    await cli.parseAsync(argv, { from: 'user' });
    return code ?? 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT.usage; // help and version are 0
    const json = cli.opts<Globals>().json === true;
    const say = (code: string, message: string) => process.stderr.write(json ? `${JSON.stringify({ error: { code, message } })}\n` : `agentrun: ${message}\n`);
    if (err instanceof UsageError) {
      say('usage', err.message);
      return EXIT.usage;
    }
    if (err instanceof ApiError) {
      say(err.code, err.status === 0 ? err.message : `${err.code}: ${err.message}`);
      return err.status === 400 || err.status === 422 ? EXIT.usage : EXIT.api;
    }
    throw err;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
    process.stderr.write(`agentrun: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
