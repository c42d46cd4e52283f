/**
 * The MCP (Model Context Protocol) client layer: MCP_SERVERS' schema (src/shared/config/mcp.ts, re-exported), the
 * untrusted-text rules for tool listings and results (tools.ts, text.ts), the two errors
 * (errors.ts) and connections over stdio or Streamable HTTP (client.ts).
 *
 * The SDK behind client.ts (its zod schemas, ajv: 168 of a worker's modules, about 150 ms
 * of its start's CPU on a slow machine) is loaded at the first connection, since most
 * workers never connect to a server; only the errors and the text rules load with the worker.
 * The connection functions below are client.ts's own, reached through that one import.
 */
import type * as Client from './client.ts';

export { isStdioServer, MCP_SERVER_NAME, mcpServersSchema, parseMcpServers } from '../../shared/config/mcp.ts';
export type { McpHttpServerConfig, McpServerConfig, McpServers, McpStdioServerConfig } from '../../shared/config/mcp.ts';
export { McpRejected, McpUnavailable } from './errors.ts';
export type { HttpTarget, McpCallOptions, McpConnection, McpConnectOptions, McpRequestOptions, StdioLaunch } from './client.ts';
export { LIMITS as MCP_LIMITS, TOOL_NAME as MCP_TOOL_NAME } from './tools.ts';
export type { McpCallResult, McpImage, McpQualifiedName, McpResourceRef, McpToolInfo } from './tools.ts';

let loading: Promise<typeof Client> | undefined;
const client = (): Promise<typeof Client> => (loading ??= import('./client.ts'));

export const connectStdio: typeof Client.connectStdio = async (...a) => (await client()).connectStdio(...a);
export const connectHttp: typeof Client.connectHttp = async (...a) => (await client()).connectHttp(...a);
export const listTools: typeof Client.listTools = async (...a) => (await client()).listTools(...a);
export const callTool: typeof Client.callTool = async (...a) => (await client()).callTool(...a);
export const close: typeof Client.close = async (...a) => (await client()).close(...a);
