/**
 * The two ways an MCP exchange fails. A tool result with `isError: true` is neither: it is
 * an answer, returned as such. Free of the SDK, so that a worker loads the SDK only when it
 * connects to a server (index.ts); the mapping from what the SDK throws is failure.ts.
 */

/**
 * Thrown when the server could not be reached or stopped answering: a stdio server that
 * would not start or exited, a network error, a closed connection, a request that timed
 * out. Worth retrying (with a new connection).
 */
export class McpUnavailable extends Error {
  readonly server: string;
  constructor(server: string, message: string, options?: { cause?: unknown }) {
    super(`MCP server ${server}: ${message}`, options);
    this.name = 'McpUnavailable';
    this.server = server;
  }
}

/**
 * Thrown when the server answered and refused: a JSON-RPC error such as invalid params,
 * unknown method or invalid request, a tool it does not offer (or that listTools left
 * out), arguments that are not a JSON object, or credentials refused (HTTP 401/403).
 * Retrying the same call cannot help.
 */
export class McpRejected extends Error {
  readonly server: string;
  /** The JSON-RPC error code, or the HTTP status for a refused credential; undefined for a refusal made here. */
  readonly code?: number;
  constructor(server: string, message: string, code?: number, options?: { cause?: unknown }) {
    super(`MCP server ${server}: ${message}`, options);
    this.name = 'McpRejected';
    this.server = server;
    this.code = code;
  }
}
