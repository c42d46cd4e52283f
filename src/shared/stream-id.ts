/** Redis stream entry ids (`<ms>-<seq>`), which are also SSE event ids. Pure. */

const STREAM_ID_RE = /^\d{1,20}-\d{1,20}$/;

export function isStreamId(value: string): boolean {
  return STREAM_ID_RE.test(value);
}

/** Orders two stream ids: negative, zero or positive like a comparator. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  if (am !== bm) return am < bm ? -1 : 1;
  if (as !== bs) return as < bs ? -1 : 1;
  return 0;
}
