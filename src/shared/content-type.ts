/**
 * Content types of workspace files, from the file name's extension. Pure.
 * Unknown extensions are `text/plain` (the file tools write UTF-8 text).
 */

const TEXT = 'charset=utf-8';

const BY_EXTENSION: Readonly<Record<string, string>> = {
  txt: `text/plain; ${TEXT}`,
  log: `text/plain; ${TEXT}`,
  md: `text/markdown; ${TEXT}`,
  markdown: `text/markdown; ${TEXT}`,
  csv: `text/csv; ${TEXT}`,
  tsv: `text/tab-separated-values; ${TEXT}`,
  html: `text/html; ${TEXT}`,
  htm: `text/html; ${TEXT}`,
  css: `text/css; ${TEXT}`,
  js: `text/javascript; ${TEXT}`,
  mjs: `text/javascript; ${TEXT}`,
  cjs: `text/javascript; ${TEXT}`,
  ts: `text/x-typescript; ${TEXT}`,
  py: `text/x-python; ${TEXT}`,
  sh: `text/x-shellscript; ${TEXT}`,
  json: `application/json; ${TEXT}`,
  jsonl: `application/x-ndjson; ${TEXT}`,
  ndjson: `application/x-ndjson; ${TEXT}`,
  xml: `application/xml; ${TEXT}`,
  svg: `image/svg+xml; ${TEXT}`,
  yaml: `application/yaml; ${TEXT}`,
  yml: `application/yaml; ${TEXT}`,
  toml: `application/toml; ${TEXT}`,
  sql: `application/sql; ${TEXT}`,
  pdf: 'application/pdf',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  zip: 'application/zip',
  gz: 'application/gzip',
  tar: 'application/x-tar',
  wasm: 'application/wasm',
};

export const DEFAULT_CONTENT_TYPE = `text/plain; ${TEXT}`;

/** The content type for a workspace path: by its last extension (case-insensitive), else text/plain. */
export function contentTypeFor(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) return DEFAULT_CONTENT_TYPE; // no extension, or a dotfile like `.env`
  return BY_EXTENSION[name.slice(dot + 1).toLowerCase()] ?? DEFAULT_CONTENT_TYPE;
}
