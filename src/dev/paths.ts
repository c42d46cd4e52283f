/** Where the stack manager keeps tools (cached installs) and data (service state); both git-ignored. */
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const TOOLS = resolve(process.env.AGENTRUN_TOOLS_DIR ?? join(ROOT, '.tools'));
export const DATA = resolve(process.env.AGENTRUN_DATA_DIR ?? join(ROOT, '.data'));
export const STATE = join(DATA, 'stack');
export const LOGS = join(DATA, 'logs');
export const ENV_FILE = join(STATE, 'env');
