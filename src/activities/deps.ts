/** What activities receive from the worker: real clients, built once. */
import type { Logger } from 'pino';
import type { ToolBreaker } from '../infra/breaker.ts';
import type { EventLog } from '../infra/event-log.ts';
import type { QueueFacade } from '../infra/queue.ts';
import type { Config } from '../shared/config.ts';
import type { Executor } from '../sandbox/types.ts';
import type { Store } from '../store/types.ts';
import type { WorkspaceStore } from '../workspace/store.ts';

export interface ActivityDeps {
  /** Run workspaces and run records in S3 (with the file tools' size cap, WORKSPACE_FILE_MAX_BYTES). */
  workspace: WorkspaceStore;
  events: EventLog;
  store: Store;
  tools: Config['tools'];
  log: Logger;
  /** The jobs:* facade, moved by every status transition (absent in tests that do not need it). */
  queue?: QueueFacade;
  /** Where shell and code steps run. */
  sandbox: Executor;
  /** The tool breakers per user (absent in tests that do not need them). */
  breaker?: ToolBreaker;
}
