/**
 * Pure helpers for the untrusted text an MCP server sends (tool descriptions, results,
 * error messages, stderr): what cannot be shown is removed and the length capped.
 */

/**
 * C0/C1 controls except tab and newline, bidi overrides and isolates, zero-width
 * characters and the Unicode tag block: ways to hide text from a human reader while a
 * model still reads it.
 */
// eslint-disable-next-line no-control-regex
const HIDDEN = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\u{E0000}-\u{E007F}]/gu;

/** Drops a lone high surrogate left at the end of a cut. */
const cleanCut = (s: string) => (/[\uD800-\uDBFF]$/.test(s) ? s.slice(0, -1) : s);

/** `s` without hidden characters (CR LF becomes LF), cut to at most `maxChars` UTF-16 units. */
export function plainText(s: string, maxChars: number): string {
  const plain = s.replace(/\r\n?/g, '\n').replace(HIDDEN, '');
  return plain.length <= maxChars ? plain : cleanCut(plain.slice(0, maxChars));
}

/** `s` cut to at most `maxBytes` of UTF-8, with a note saying how much was left out. */
export function capUtf8(s: string, maxBytes: number): { text: string; truncated: boolean } {
  const bytes = Buffer.byteLength(s, 'utf8');
  if (bytes <= maxBytes) return { text: s, truncated: false };
  const note = `\n[… ${bytes} bytes in all, cut to ${maxBytes}]`;
  const keep = Math.max(0, maxBytes - Buffer.byteLength(note, 'utf8'));
  // A cut inside a multi-byte character decodes to U+FFFD; drop that replacement.
  const head = Buffer.from(s, 'utf8').subarray(0, keep).toString('utf8').replace(/\uFFFD$/, '');
  return { text: head + note, truncated: true };
}
