/**
 * Path safety for every user- or model-supplied workspace path. Pure; the only
 * way a string becomes part of an S3 key.
 */

/** Thrown when a workspace path is unsafe; activities turn it into a non-retryable failure. */
export class InvalidPathError extends Error {
  readonly path: string;
  readonly reason: string;
  constructor(path: string, reason: string) {
    super(`invalid workspace path ${JSON.stringify(path.slice(0, 200))}: ${reason}`);
    this.name = 'InvalidPathError';
    this.path = path;
    this.reason = reason;
  }
}

export const MAX_PATH_CHARS = 1024;
const MAX_SEGMENT_CHARS = 255;

// C0, DEL and C1 controls; line and paragraph separators; bidi marks, overrides and isolates;
// zero-width characters and BOM.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/u;
// A high surrogate not followed by a low one, or a low one not preceded by a high one (no `u` flag: code units).
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
// Characters that look like or fold to a slash, backslash or dot.
const LOOKALIKES = /[\u2044\u2215\u29f8\u29f5\u2216\ufe68\uff0f\uff3c\u2024\u2025\u2026\ufe52\uff0e\u3002\uff61]/u;

/**
 * Returns the path in canonical (NFC) form if it is a safe relative path, else throws.
 * The result contains only non-empty segments other than `.` and `..`, joined by `/`.
 */
export function checkWorkspacePath(input: string): string {
  if (typeof input !== 'string' || input.length === 0) throw new InvalidPathError(String(input), 'empty path');
  if (input.length > MAX_PATH_CHARS) throw new InvalidPathError(input, `longer than ${MAX_PATH_CHARS} characters`);
  // A lone surrogate has no UTF-8 form: S3 would store U+FFFD, a different key than the one checked.
  if (LONE_SURROGATE.test(input)) throw new InvalidPathError(input, 'contains a lone surrogate (not valid Unicode)');
  if (FORBIDDEN_CHARS.test(input)) throw new InvalidPathError(input, 'contains a control, bidi or zero-width character');
  if (input.includes('\\')) throw new InvalidPathError(input, 'contains a backslash');
  if (/%[0-9a-fA-F]{2}/.test(input)) throw new InvalidPathError(input, 'contains a percent-encoded sequence');
  if (LOOKALIKES.test(input)) throw new InvalidPathError(input, 'contains a character that looks like a slash or dot');
  const path = input.normalize('NFC');
  if (path.startsWith('/') || /^[a-zA-Z]:/.test(path)) throw new InvalidPathError(input, 'absolute paths are not allowed');
  const folded = path.normalize('NFKC');
  if (folded.includes('\\') || folded.split('/').length !== path.split('/').length) {
    throw new InvalidPathError(input, 'compatibility form adds separators');
  }
  for (const variant of [path, folded]) {
    for (const segment of variant.split('/')) {
      if (segment === '') throw new InvalidPathError(input, 'empty segment (leading, trailing or double slash)');
      if (segment === '.' || segment === '..') throw new InvalidPathError(input, `'${segment}' segments are not allowed`);
      if (segment.length > MAX_SEGMENT_CHARS) throw new InvalidPathError(input, `segment longer than ${MAX_SEGMENT_CHARS}`);
    }
  }
  return path;
}

/** Builds a key under `prefix` (which must end in `/`) and proves it stays there. */
export function keyUnder(prefix: string, safePath: string): string {
  if (!prefix.endsWith('/')) throw new Error(`prefix must end with '/': ${prefix}`);
  const key = prefix + checkWorkspacePath(safePath);
  if (!key.startsWith(prefix)) throw new InvalidPathError(safePath, 'escapes the run prefix');
  return key;
}
