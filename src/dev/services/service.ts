/**
 * The one interface every service of the local stack implements, so the stack
 * manager (stack.ts) installs, starts, checks and stops them by iterating a list
 * (services/index.ts), plus the per-service file names they share.
 */
import { join } from 'node:path';
import type { StackContext } from '../context.ts';

export interface Service {
  /** Printed by up, down and status. */
  readonly name: string;
  /**
   * Installs what the service needs, cached under .tools/ (or from apt); idempotent. A long
   * download or build returns a promise: the stack runs those side by side (stack.ts install).
   */
  install?(ctx: StackContext): void | Promise<void>;
  /** Starts it on loopback unless it is already running and healthy, then waits until healthy; idempotent. */
  start(ctx: StackContext): Promise<void>;
  /** Whether it answers now (may throw: the caller counts that as down). */
  healthy(ctx: StackContext): Promise<boolean>;
  /** Stops it; resolves false when it was not running. Its data stays. */
  stop(ctx: StackContext): Promise<boolean>;
  /** One line: where it listens. */
  where(ctx: StackContext): string;
}

/** The pid file of a process the stack manager started: <data>/stack/<name>.pid. */
export const pidFile = (ctx: StackContext, name: string) => join(ctx.paths.state, `${name}.pid`);
/** Its log: <data>/logs/<name>.log. */
export const logFile = (ctx: StackContext, name: string) => join(ctx.paths.logs, `${name}.log`);
