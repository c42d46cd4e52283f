/**
 * The offline provider's planner: deterministic, no network. It turns a prompt
 * written in a small line syntax into plan steps (documented in README.md):
 *
 *   write_file <path> <content…>   content is the rest of the line; \n and \\ are escapes
 *   read_file <path>
 *   web_search <query…>            search the web (Brave Search; needs BRAVE_API_KEY): results to the log and search/NNN.json
 *   fetch_url <url> [path]         GET the URL (through the egress guard) into the workspace at path, or to the log
 *   browser <url> [--screenshot <path>] [--text [<path>]]
 *                                  open the page in headless Chromium (every request through the egress guard):
 *                                  title and final URL to the log, a PNG and/or its text into the workspace
 *   mcp <server>.<tool> [<json>]   call an MCP connector's tool (MCP_SERVERS) with a JSON object of arguments
 *   list_files [<prefix>]          the files under a directory (all files without one)
 *   stat_file <path>
 *   delete_file <path>
 *   shell <arg> <arg> …            argv split on spaces, "double quotes" group; no shell runs it
 *   code <language>: <source…>     source is the rest of the line (escapes as write_file); python, node or bash
 *
 * Blank lines and lines starting with `#` are ignored; any other line is prose and
 * becomes part of the plan summary. A prompt with no tool line gets one step that
 * writes the prompt to `prompt.md`, so every prompt yields a runnable plan.
 */
import type { Plan, PlanStep } from './run.ts';
import { CODE_LANGUAGES, plan as planSchema } from './run.ts';
import { MCP_SERVER_NAME, MCP_TOOL_NAME } from './config/mcp.ts';

/** Thrown when a tool line cannot be parsed; the message names the line. */
export class PromptSyntaxError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`prompt line ${line}: ${message}`);
    this.name = 'PromptSyntaxError';
    this.line = line;
  }
}

/** Split a line into words: spaces separate, double quotes group, backslash escapes inside quotes. */
export function splitWords(text: string, lineNo: number): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '\\' && i + 1 < text.length) {
        current += text[++i];
      } else if (ch === '"') {
        quoted = false;
      } else {
        current += ch;
      }
    } else if (ch === '"') {
      quoted = true;
      inWord = true;
    } else if (ch === ' ' || ch === '\t') {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (quoted) throw new PromptSyntaxError(lineNo, 'unterminated double quote');
  if (inWord) words.push(current);
  return words;
}

function unescapeContent(text: string): string {
  return text.replace(/\\(n|t|\\)/g, (_m, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : '\\'));
}

/** `code <language>: <source>`; a line starting with `code` but not `code <word>:` is prose. */
const CODE_LINE = /^code\s+([A-Za-z0-9_+-]+):\s*(.*)$/;

export function planFromPrompt(prompt: string): Plan {
  const steps: PlanStep[] = [];
  const prose: string[] = [];
  const lines = prompt.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const code = CODE_LINE.exec(line);
    if (code) {
      const language = code[1]!;
      if (!(CODE_LANGUAGES as readonly string[]).includes(language)) {
        throw new PromptSyntaxError(lineNo, `code language ${language} is not one of ${CODE_LANGUAGES.join(', ')}`);
      }
      const source = unescapeContent(code[2] ?? '');
      if (source.trim() === '') throw new PromptSyntaxError(lineNo, 'code needs source after the colon');
      steps.push({ tool: 'code', language: language as (typeof CODE_LANGUAGES)[number], source });
      return;
    }
    const match = /^(write_file|read_file|list_files|stat_file|delete_file|shell|fetch_url|web_search|browser|mcp)(?:\s+(.*))?$/.exec(line);
    if (!match) {
      prose.push(line);
      return;
    }
    const tool = match[1]!;
    const rest = match[2] ?? '';
    if (tool === 'shell') {
      const argv = splitWords(rest, lineNo);
      if (argv.length === 0) throw new PromptSyntaxError(lineNo, 'shell needs a command');
      steps.push({ tool: 'shell', argv });
      return;
    }
    if (tool === 'web_search') {
      if (rest.trim() === '') throw new PromptSyntaxError(lineNo, 'web_search needs a query');
      steps.push({ tool: 'web_search', query: rest.trim() });
      return;
    }
    if (tool === 'mcp') {
      steps.push(mcpStepOf(rest, lineNo));
      return;
    }
    if (tool === 'browser') {
      steps.push(browserStepOf(rest, lineNo));
      return;
    }
    if (tool === 'fetch_url') {
      const words = rest.trim() === '' ? [] : rest.trim().split(/\s+/);
      if (words.length === 0 || words.length > 2) throw new PromptSyntaxError(lineNo, 'fetch_url takes a URL and, optionally, a workspace path');
      steps.push(words[1] === undefined ? { tool: 'fetch_url', url: words[0]! } : { tool: 'fetch_url', url: words[0]!, path: words[1] });
      return;
    }
    if (tool === 'list_files') {
      const words = rest.trim() === '' ? [] : rest.trim().split(/\s+/);
      if (words.length > 1) throw new PromptSyntaxError(lineNo, 'list_files takes at most a prefix');
      steps.push(words[0] === undefined ? { tool: 'list_files' } : { tool: 'list_files', prefix: words[0] });
      return;
    }
    const pathMatch = /^(\S+)(?:\s(.*))?$/.exec(rest);
    if (!pathMatch) throw new PromptSyntaxError(lineNo, `${tool} needs a path`);
    if (tool === 'read_file' || tool === 'stat_file' || tool === 'delete_file') {
      if (pathMatch[2]) throw new PromptSyntaxError(lineNo, `${tool} takes only a path`);
      steps.push({ tool, path: pathMatch[1]! });
    } else {
      steps.push({ tool: 'write_file', path: pathMatch[1]!, content: unescapeContent(pathMatch[2] ?? '') });
    }
  });
  if (steps.length === 0) steps.push({ tool: 'write_file', path: 'prompt.md', content: prompt });
  const summary = prose.length > 0 ? prose.join(' ').slice(0, 500) : `${steps.length} step(s)`;
  return planSchema.parse({ summary, steps });
}

/** `browser <url> [--screenshot <path>] [--text [<path>]]`. */
function browserStepOf(rest: string, lineNo: number): PlanStep {
  const words = rest.trim() === '' ? [] : rest.trim().split(/\s+/);
  const url = words.shift();
  if (url === undefined || url.startsWith('--')) throw new PromptSyntaxError(lineNo, 'browser needs a URL');
  const step: Extract<PlanStep, { tool: 'browser' }> = { tool: 'browser', url };
  while (words.length > 0) {
    const flag = words.shift()!;
    if (flag === '--screenshot') {
      const path = words.shift();
      if (path === undefined || path.startsWith('--')) throw new PromptSyntaxError(lineNo, 'browser --screenshot needs a workspace path');
      step.screenshot = path;
    } else if (flag === '--text') {
      step.text = words[0] !== undefined && !words[0].startsWith('--') ? words.shift()! : true;
    } else {
      throw new PromptSyntaxError(lineNo, `browser takes a URL, --screenshot <path> and --text [<path>], not ${flag.slice(0, 40)}`);
    }
  }
  return step;
}

/** `mcp <server>.<tool> [<json object>]`. */
function mcpStepOf(rest: string, lineNo: number): PlanStep {
  const m = /^(\S+?)\.(\S+)(?:\s+(.*))?$/.exec(rest.trim());
  if (!m || !MCP_SERVER_NAME.test(m[1]!) || !MCP_TOOL_NAME.test(m[2]!)) throw new PromptSyntaxError(lineNo, 'mcp needs <server>.<tool>, then optionally a JSON object of arguments');
  if (m[3] === undefined) return { tool: 'mcp', server: m[1]!, name: m[2]! };
  let args: unknown;
  try {
    args = JSON.parse(m[3]);
  } catch (err) {
    throw new PromptSyntaxError(lineNo, `mcp arguments are not JSON: ${(err as Error).message}`);
  }
  if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new PromptSyntaxError(lineNo, 'mcp arguments must be a JSON object');
  return { tool: 'mcp', server: m[1]!, name: m[2]!, arguments: args as Record<string, unknown> };
}
