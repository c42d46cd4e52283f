/** Routes the Temporal SDK's logs (including workflow and activity `log`) into pino. */
import type { LogLevel, LogMetadata, Logger as SdkLogger } from '@temporalio/common';
import type { Logger } from 'pino';

export function sdkLogger(log: Logger): SdkLogger {
  const at = (level: LogLevel) => (message: string, meta?: LogMetadata) => {
    const fn = level === 'TRACE' ? 'trace' : level === 'DEBUG' ? 'debug' : level === 'INFO' ? 'info' : level === 'WARN' ? 'warn' : 'error';
    // The SDK logs every activity and activation at debug and trace: dropped here before any copy.
    if (!log.isLevelEnabled(fn)) return;
    // The SDK names an error `error`; pino serialises it (message, type, stack) only as `err`.
    const { error, ...rest } = meta ?? {};
    log[fn](error instanceof Error ? { ...rest, err: error } : (meta ?? {}), message);
  };
  return {
    log: (level, message, meta) => at(level)(message, meta),
    trace: at('TRACE'), debug: at('DEBUG'), info: at('INFO'), warn: at('WARN'), error: at('ERROR'),
  };
}
