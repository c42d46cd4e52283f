/**
 * Lines a reader sees for a log event whose payload is not plain text (the CLI and the
 * web page both show them). Browser-safe: no Node modules.
 */

const str = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/**
 * A `browser` log event: the page's title, final URL and status, the requests the egress
 * guard refused (with the rule), then the start of its text when it was asked for.
 */
export function browserLogLines(d: Record<string, unknown>): string[] {
  const status = typeof d.status === 'number' ? ` (${d.status})` : '';
  const lines = [`page: ${JSON.stringify(str(d.title ?? ''))} at ${str(d.url)}${status}${d.loaded === false ? ', still loading' : ''}`];
  const refused = Array.isArray(d.refused) ? (d.refused as { url?: unknown; reason?: unknown }[]) : [];
  for (const r of refused) lines.push(`refused: ${str(r.url)} — ${str(r.reason)}`);
  if (typeof d.text === 'string' && d.text !== '') lines.push(...d.text.split('\n'));
  return lines;
}
