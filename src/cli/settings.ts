/**
 * Where the CLI finds the API and its token: `--url` / `--token`, else AGENTRUN_URL /
 * AGENTRUN_TOKEN, else the config file `agentrun login` writes
 * ($XDG_CONFIG_HOME/agentrun/config.json, else ~/.config/agentrun/config.json;
 * AGENTRUN_CONFIG names another), mode 0600 in a 0700 folder. The token is read again on
 * every request, so a follow picks up a token refreshed by `agentrun login` elsewhere.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** The local stack's API (./dev up, API_PORT's default). */
export const DEFAULT_URL = 'http://127.0.0.1:18080';

export interface StoredSettings { url?: string; token?: string }

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AGENTRUN_CONFIG) return env.AGENTRUN_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'agentrun', 'config.json');
}

/** The config file's settings ({} when there is none); a file others may read is refused, as ssh does. */
export function readSettings(path = configPath()): StoredSettings {
  if (!existsSync(path)) return {};
  if ((statSync(path).mode & 0o077) !== 0) {
    throw new UsageError(`${path} may be read by other users: its token is a secret (chmod 600 ${path})`);
  }
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (parsed === null || typeof parsed !== 'object') throw new Error('not an object');
    const { url, token } = parsed as Record<string, unknown>;
    return { ...(typeof url === 'string' ? { url } : {}), ...(typeof token === 'string' ? { token } : {}) };
  } catch (err) {
    throw new UsageError(`${path} is not a config file of agentrun (${(err as Error).message}); run agentrun login again`);
  }
}

/** Writes the settings (0600, its folder 0700), replacing the file in one rename. */
export function writeSettings(settings: StoredSettings, path = configPath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export interface Target { url: string; token: () => string | undefined }

/** The API to talk to and the token source, by the precedence above. */
export function resolveTarget(flags: { url?: string; token?: string }, env: NodeJS.ProcessEnv = process.env): Target {
  const stored = () => readSettings(configPath(env));
  const url = flags.url ?? (env.AGENTRUN_URL || undefined) ?? stored().url ?? DEFAULT_URL;
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new UsageError(`--url / AGENTRUN_URL: ${JSON.stringify(url)} is not an http(s) URL`);
  }
  const token = () => flags.token ?? (env.AGENTRUN_TOKEN || undefined) ?? stored().token;
  return { url, token };
}
