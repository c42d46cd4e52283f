/**
 * The bench's own Temporal dev server: the stack's binary and flags (temporalDevArgs), a
 * fresh SQLite file, no Web UI, free loopback ports; both sides run on it. The stack's
 * server keeps whatever the day's test runs and benches left in its database, and the
 * server's CPU per run grows with that file (about 70 ms per agentrun run on a fresh one,
 * 80–119 on one of 560 MB): on a server of its own, each bench starts from the state of a
 * fresh `./dev demo` and does not add its thousands of runs to the stack's history.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freeLoopbackPort } from '../../infra/free-port.ts';
import { HOST, type StackContext } from '../context.ts';
import { startChild, waitFor } from '../proc.ts';
import { temporalBin, temporalDevArgs, temporalServing } from '../services/temporal.ts';

export interface BenchTemporal {
  /** host:port of its gRPC frontend. */
  address: string;
  /** Its Prometheus metrics (request and persistence counts per operation). */
  metricsUrl: string;
  process: ChildProcess;
  /** Stops the server and removes its database. */
  stop(): Promise<void>;
}

export async function startBenchTemporal(ctx: StackContext, logFile: string): Promise<BenchTemporal> {
  mkdirSync(join(ctx.paths.data, 'bench'), { recursive: true });
  const dir = mkdtempSync(join(ctx.paths.data, 'bench', 'temporal-'));
  const [port, httpPort, metricsPort] = [await freeLoopbackPort(), await freeLoopbackPort(), await freeLoopbackPort()];
  const address = `${HOST}:${port}`;
  const child = startChild(temporalBin(ctx), temporalDevArgs({ port, httpPort, metricsPort, dbFile: join(dir, 'temporal.db') }), process.env, logFile);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('the bench\'s Temporal dev server', 90_000, () => {
      if (child.exitCode !== null) throw new Error(`it exited with code ${child.exitCode}; see ${logFile}`);
      return temporalServing(ctx, address);
    }, `see ${logFile}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { address, metricsUrl: `http://${HOST}:${metricsPort}/metrics`, process: child, stop };
}
