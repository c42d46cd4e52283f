/**
 * The shape of MCP_SERVERS: a JSON object naming the MCP servers a deployment offers,
 * each either a stdio server (an argv, never a shell line) or a Streamable HTTP one.
 * Pure: no I/O (src/shared: config.ts parses MCP_SERVERS with it). It refuses unknown keys, names that cannot be part of a tool's qualified
 * name (`mcp:<server>.<tool>`), a relative or `..`-bearing mount, a shell string for a
 * command, non-http(s) URLs and URLs carrying credentials (tokens go in `headers`, which
 * no message or log line ever quotes).
 */
import { z } from 'zod';

export const MCP_SERVER_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
/** A tool name a server may list (others are skipped): it becomes part of mcp:<server>.<tool>. */
export const MCP_TOOL_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

const unknownKey = (kind: string, keys: string) => (iss: { code?: string; keys?: string[] }) =>
  iss.code === 'unrecognized_keys' ? `unknown key${iss.keys && iss.keys.length > 1 ? 's' : ''} ${(iss.keys ?? []).map((k) => `"${k}"`).join(', ')} (${kind} servers take ${keys})` : undefined;

const stdioServer = z.strictObject({
  command: z.array(z.string().min(1, 'command entries must be non-empty strings'), 'command must be an argv array of strings (no shell line)')
    .min(1, 'command must name at least the program to run'),
  env: z.record(z.string().regex(ENV_NAME, 'env names must be letters, digits and _ (not starting with a digit)'), z.string()).optional(),
  mount: z.string().refine((p) => p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0'), 'mount must be an absolute host directory without ".." segments').optional(),
  workspace: z.boolean().default(false),
  /** SANDBOX=kubernetes: the image of its Jobs' exec container (the runner image with the server installed); default K8S_RUNNER_IMAGE. */
  image: z.string().min(1).optional(),
}, { error: unknownKey('stdio', 'command, env, mount, workspace, image') });

const httpServer = z.strictObject({
  url: z.string().refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), 'url must be an http:// or https:// URL')
    .refine((u) => !URL.canParse(u) || (new URL(u).username === '' && new URL(u).password === ''), 'url must not carry credentials (put tokens in headers)'),
  headers: z.record(z.string().regex(HEADER_NAME, 'header names must be HTTP tokens'), z.string().refine((v) => !/[\r\n\0]/.test(v), 'header values must be one line')).optional(),
}, { error: unknownKey('HTTP', 'url, headers') });

/** One server: by its keys, `command` makes it stdio and `url` makes it Streamable HTTP. */
const mcpServerSchema = z.unknown().transform((value, ctx): McpServerConfig => {
  const keys = value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
  const hasCommand = keys.includes('command');
  if (hasCommand === keys.includes('url')) {
    ctx.addIssue({ code: 'custom', message: hasCommand ? 'a server has either command (stdio) or url (HTTP), not both' : 'a server must be an object with command (stdio) or url (HTTP)' });
    return z.NEVER;
  }
  const parsed = (hasCommand ? stdioServer : httpServer).safeParse(value);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  return z.NEVER;
});

export const mcpServersSchema = z.record(
  z.string().regex(MCP_SERVER_NAME),
  mcpServerSchema,
  {
    error: (iss) => iss.code === 'invalid_type' ? 'MCP_SERVERS must be a JSON object of name → server'
      : iss.code === 'invalid_key' ? 'server names must match ^[a-z][a-z0-9_-]{0,31}$ (they become part of mcp:<server>.<tool>)' : undefined,
  },
);

export type McpStdioServerConfig = z.output<typeof stdioServer>;
export type McpHttpServerConfig = z.output<typeof httpServer>;
export type McpServerConfig = McpStdioServerConfig | McpHttpServerConfig;
export type McpServers = Record<string, McpServerConfig>;

/** A stdio server's config, as opposed to an HTTP one. */
export const isStdioServer = (s: McpServerConfig): s is McpStdioServerConfig => 'command' in s;

/** Parses MCP_SERVERS' text (absent or blank: no servers); a readable Error naming each problem otherwise. */
export function parseMcpServers(json: string | undefined): McpServers {
  if (json === undefined || json.trim() === '') return {};
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new Error(`MCP_SERVERS is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = mcpServersSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`);
    throw new Error(`MCP_SERVERS is invalid: ${problems.join('; ')}`);
  }
  return parsed.data;
}
