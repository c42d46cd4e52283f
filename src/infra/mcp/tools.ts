/**
 * Pure shaping of what an MCP server says about its tools and what a call returns. All of
 * it is untrusted: a tool whose name could not be quoted safely or whose input schema is
 * over 20 kB is left out (with the reason, for a log line); descriptions lose hidden
 * characters and are capped; results are capped (text 64 kB, a few images and resources,
 * structured content over 64 kB dropped) but otherwise kept as given, since a tool's
 * output (a file's bytes) must stay faithful.
 */
import { MCP_TOOL_NAME as TOOL_NAME } from '../../shared/config/mcp.ts';
import { capUtf8, plainText } from './text.ts';

export { TOOL_NAME };

export type McpQualifiedName = `mcp:${string}.${string}`;

export interface McpToolInfo {
  server: string;
  name: string;
  /** `mcp:<server>.<name>`, the name the model sees. */
  qualified: McpQualifiedName;
  /** The server's description: hidden characters removed, at most 1000 characters. */
  description: string;
  /** The tool's JSON Schema for its arguments, as the server gave it (at most 20 kB as JSON). */
  inputSchema: Record<string, unknown>;
}

export interface McpImage { mimeType: string; data: string }
export interface McpResourceRef {
  /** `link`: a resource_link item; `embedded`: a resource item (text kept, a blob only named). */
  kind: 'link' | 'embedded';
  uri: string;
  name?: string;
  mimeType?: string;
  text?: string;
}

export interface McpCallResult {
  /** The server's own verdict: true when the tool ran and failed (the caller fails the step). */
  isError: boolean;
  /** The text items joined by newlines, at most 64 kB of UTF-8 (a note says when cut). */
  text: string;
  structured?: unknown;
  images: McpImage[];
  resources: McpResourceRef[];
}

export const LIMITS = {
  descriptionChars: 1000,
  inputSchemaBytes: 20_000,
  resultTextBytes: 64 * 1024,
  images: 4,
  imageBase64Chars: 1_000_000,
  resources: 32,
  resourceTextBytes: 16 * 1024,
} as const;

/** A tool as tools/list gives it: only the fields read here. */
export interface ListedTool { name: string; description?: string; inputSchema: Record<string, unknown> }

/** The tool as offered to the caller, or why it is left out. */
export function describeTool(server: string, tool: ListedTool): { tool: McpToolInfo } | { skipped: string } {
  if (!TOOL_NAME.test(tool.name)) return { skipped: `name ${JSON.stringify(plainText(tool.name, 80))} does not match ${TOOL_NAME.source}` };
  const schemaBytes = Buffer.byteLength(JSON.stringify(tool.inputSchema), 'utf8');
  if (schemaBytes > LIMITS.inputSchemaBytes) return { skipped: `input schema is ${schemaBytes} bytes, over ${LIMITS.inputSchemaBytes}` };
  return {
    tool: {
      server,
      name: tool.name,
      qualified: `mcp:${server}.${tool.name}`,
      description: plainText(tool.description ?? '', LIMITS.descriptionChars),
      inputSchema: tool.inputSchema,
    },
  };
}

/** The parts of a content item read here; the SDK has checked the item's shape. */
interface ContentItem {
  type: string;
  text?: string;
  data?: string;
  mimeType?: string;
  uri?: string;
  name?: string;
  resource?: { uri: string; mimeType?: string; text?: string; blob?: string };
}

const IMAGE_TYPE = /^image\/[a-z0-9.+-]{1,64}$/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A tools/call result, capped and split by kind of content. */
export function shapeResult(raw: { content?: unknown; isError?: unknown; structuredContent?: unknown }): McpCallResult {
  const items = Array.isArray(raw.content) ? (raw.content as ContentItem[]) : [];
  const texts: string[] = [];
  const images: McpImage[] = [];
  const resources: McpResourceRef[] = [];
  for (const item of items) {
    if (item.type === 'text' && typeof item.text === 'string') texts.push(item.text);
    else if (item.type === 'image' && typeof item.data === 'string' && IMAGE_TYPE.test(item.mimeType ?? '')) {
      if (images.length >= LIMITS.images || item.data.length > LIMITS.imageBase64Chars || !BASE64.test(item.data)) {
        texts.push(`[image (${item.mimeType}, ${item.data.length} base64 characters) left out: over the limits or not base64]`);
      } else images.push({ mimeType: item.mimeType as string, data: item.data });
    } else if ((item.type === 'resource_link' || item.type === 'resource') && resources.length < LIMITS.resources) {
      const res = item.type === 'resource' ? item.resource : item;
      if (typeof res?.uri !== 'string') continue;
      const ref: McpResourceRef = { kind: item.type === 'resource' ? 'embedded' : 'link', uri: res.uri.slice(0, 2048) };
      if (typeof item.name === 'string') ref.name = plainText(item.name, 200);
      if (typeof res.mimeType === 'string') ref.mimeType = res.mimeType.slice(0, 100);
      if (typeof res.text === 'string' && item.type === 'resource') ref.text = capUtf8(res.text, LIMITS.resourceTextBytes).text;
      resources.push(ref);
    }
  }
  let structured = raw.structuredContent;
  const structuredBytes = structured === undefined ? 0 : Buffer.byteLength(JSON.stringify(structured) ?? '', 'utf8');
  if (structuredBytes > LIMITS.resultTextBytes) {
    texts.push(`[structured content (${structuredBytes} bytes as JSON) left out: over ${LIMITS.resultTextBytes}]`);
    structured = undefined;
  }
  const shaped: McpCallResult = { isError: raw.isError === true, text: capUtf8(texts.join('\n'), LIMITS.resultTextBytes).text, images, resources };
  if (structured !== undefined) shaped.structured = structured;
  return shaped;
}
