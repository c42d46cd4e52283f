/** The request a Job's runner receives (env `AGENTRUN_REQUEST`), validated before anything runs. */
import { z } from 'zod';
import { CODE_LANGUAGES } from '../shared/run.ts';
import { MCP_SERVER_NAME, MCP_TOOL_NAME } from '../shared/config/mcp.ts';
import type { SandboxRequest } from './types.ts';

const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
/** An argv word or environment value: a process cannot receive NUL bytes. */
const noNul = z.string().refine((s) => !s.includes('\0'), 'must not contain NUL bytes');

export const sandboxRequestSchema = z.object({
  runId: id,
  userId: id,
  index: z.number().int().min(0),
  workspacePrefix: z.string().regex(/^users\/[A-Za-z0-9_-]+\/runs\/[A-Za-z0-9_-]+\/files\/$/, 'must be users/{userId}/runs/{runId}/files/'),
  command: z.union([
    z.object({ argv: z.array(noNul).min(1) }).strict(),
    z.object({ code: z.object({ language: z.enum(CODE_LANGUAGES), source: z.string() }).strict() }).strict(),
    z.object({ browser: z.object({
      page: z.object({ url: z.string().min(1).max(8192), screenshot: z.boolean(), text: z.boolean(), timeoutMs: z.number().int().positive() }).strict(),
      files: z.object({ screenshot: z.string().min(1).max(1024).optional(), text: z.string().min(1).max(1024).optional() }).strict(),
      egress: z.object({
        allowHosts: z.array(z.string()), allowPorts: z.array(z.number().int().min(1).max(65535)),
        maxBytes: z.number().int().positive(), timeoutMs: z.number().int().positive(),
      }).strict(),
      maxPageBytes: z.number().int().positive(),
      chromium: z.string().regex(/^\//, 'must be an absolute path'),
    }).strict() }).strict(),
    z.object({ mcp: z.object({
      server: z.string().regex(MCP_SERVER_NAME), argv: z.array(noNul).min(1),
      env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), noNul).optional(), workspace: z.boolean(),
      call: z.object({ tool: z.string().regex(MCP_TOOL_NAME), args: z.record(z.string(), z.unknown()) }).strict().optional(),
      timeoutMs: z.number().int().positive(),
    }).strict() }).strict(),
  ]),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), noNul).optional(),
  image: z.string().min(1).optional(),
  limits: z.object({ timeoutMs: z.number().int().positive(), outputMaxBytes: z.number().int().positive() }).strict(),
}).strict().refine(
  (r) => r.workspacePrefix.startsWith(`users/${r.userId}/runs/`),
  { path: ['workspacePrefix'], message: 'must be a workspace of the request\'s user' },
) satisfies z.ZodType<SandboxRequest>;

/** Parses and validates a request; the error message is one line naming each problem. */
export function parseSandboxRequest(text: string | undefined): SandboxRequest {
  if (!text) throw new Error('AGENTRUN_REQUEST is not set');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`AGENTRUN_REQUEST is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = sandboxRequestSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`AGENTRUN_REQUEST is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}
