/** What activities receive from the worker: real clients, built once. */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import type { EventLog } from '../infra/event-log.ts';
import type { QueueFacade } from '../infra/queue.ts';
import type { Config } from '../shared/config.ts';
import type { Executor } from '../sandbox/types.ts';
import type { Store } from '../store/types.ts';

export interface ActivityDeps {
  s3: S3Client;
  bucket: string;
  events: EventLog;
  store: Store;
  tools: Config['tools'];
  workspace: Config['workspace'];
  log: Logger;
  /** The jobs:* facade, moved by every status transition (absent in tests that do not need it). */
  queue?: QueueFacade;
  /** Where shell and code steps run. */
  sandbox: Executor;
}
