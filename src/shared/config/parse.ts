/**
 * Reading the environment: aliases of the seeds' variable names, then each
 * variable through its schema, every problem reported in one line.
 */
import type { z } from 'zod';
import { CONFIG_VARS, type RawConfig, type VarSpec } from './vars.ts';

/** Thrown when the environment does not describe a runnable process; the message is one line. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Names the seeds' deployments used (e.g. the Exoscale SOS settings), accepted as
 * aliases so such an environment works unchanged. The canonical name wins; both
 * set to different values is an error.
 */
export const CONFIG_ALIASES: Readonly<Record<string, keyof typeof CONFIG_VARS>> = {
  S3_WORKSPACE_BUCKET: 'S3_BUCKET',
  S3_ACCESS_KEY: 'S3_ACCESS_KEY_ID',
  S3_SECRET_KEY: 'S3_SECRET_ACCESS_KEY',
};

function withAliases(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const [alias, name] of Object.entries(CONFIG_ALIASES)) {
    const value = env[alias];
    if (value === undefined || value === '') continue;
    if (env[name] !== undefined && env[name] !== '' && env[name] !== value) {
      throw new ConfigError(`invalid configuration: ${alias} and ${name} are both set, to different values (${alias} is an alias of ${name}; set one)`);
    }
    out[name] = value;
  }
  return out;
}

/** The environment, aliases applied, parsed variable by variable; throws one ConfigError naming every problem. */
export function readVars(env: NodeJS.ProcessEnv): RawConfig {
  return parseVars(withAliases(env));
}

function parseVars(env: NodeJS.ProcessEnv): RawConfig {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(CONFIG_VARS) as [string, VarSpec<z.ZodType>][]) {
    const raw = env[name] === '' ? undefined : (env[name] ?? spec.default);
    if (raw === undefined) {
      if (spec.schema.safeParse(undefined).success) continue;
      problems.push(`${name} is required (${spec.description})`);
      continue;
    }
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) out[name] = parsed.data;
    else problems.push(`${name}=${spec.secret ? '<redacted>' : JSON.stringify(raw)} ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return out as RawConfig;
}

