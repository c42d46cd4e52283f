/**
 * The event streams (SSE) this API process holds open, so that a stopping process ends
 * each one cleanly — a `: shutting down` comment, then the end of the response — and its
 * client reconnects to another process with Last-Event-ID instead of seeing a reset.
 */
export class OpenStreams {
  private readonly ends = new Set<() => void>();
  private draining = false;

  /** Streams open now. */
  get size(): number {
    return this.ends.size;
  }

  /** Registers how to end a stream; returns the unregister. A stream opened while draining is ended at once. */
  add(end: () => void): () => void {
    if (this.draining) {
      end();
      return () => undefined;
    }
    this.ends.add(end);
    return () => { this.ends.delete(end); };
  }

  /** Ends every open stream, and every stream opened from now on; returns how many were open. */
  drain(): number {
    this.draining = true;
    const open = [...this.ends];
    this.ends.clear();
    for (const end of open) end();
    return open.length;
  }
}
