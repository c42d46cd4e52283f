/** Structured JSON logs: one root logger per process, a child per component. */
import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name: string): Logger {
  return pino({
    name,
    level,
    base: { pid: process.pid },
    redact: { paths: ['*.secretAccessKey', '*.password', '*.authorization', 'req.headers.authorization'], censor: '[redacted]' },
  });
}
