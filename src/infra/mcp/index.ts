/**
 * The MCP (Model Context Protocol) client layer: MCP_SERVERS' schema (src/shared/config/mcp.ts, re-exported), the
 * untrusted-text rules for tool listings and results (tools.ts, text.ts), the two errors
 * (errors.ts) and connections over stdio or Streamable HTTP (client.ts).
 */
export { isStdioServer, MCP_SERVER_NAME, mcpServersSchema, parseMcpServers } from '../../shared/config/mcp.ts';
export type { McpHttpServerConfig, McpServerConfig, McpServers, McpStdioServerConfig } from '../../shared/config/mcp.ts';
export { McpRejected, McpUnavailable } from './errors.ts';
export { callTool, close, connectHttp, connectStdio, listTools, McpConnection } from './client.ts';
export type { HttpTarget, McpCallOptions, McpConnectOptions, McpRequestOptions, StdioLaunch } from './client.ts';
export { LIMITS as MCP_LIMITS, TOOL_NAME as MCP_TOOL_NAME } from './tools.ts';
export type { McpCallResult, McpImage, McpQualifiedName, McpResourceRef, McpToolInfo } from './tools.ts';
