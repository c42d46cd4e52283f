/** A Job's output on the run's live log: followed from the exec container, or replayed from the result record. */
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, Log, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { SandboxContext, SandboxResult } from '../types.ts';

/** The output of a result record, as log lines (stdout, then stderr). */
export function replayOutput(result: SandboxResult, ctx: SandboxContext): void {
  if (!ctx.onLine) return;
  for (const [stream, text] of [['stdout', result.stdout], ['stderr', result.stderr]] as const) {
    if (!text) continue;
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    for (const line of lines) ctx.onLine(stream, line);
  }
}

export async function podsOfJob(kc: KubeConfig, namespace: string, name: string): Promise<V1Pod[]> {
  const list = await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector: `job-name=${name}` });
  return list.items;
}

/**
 * Streams the exec container's output into the run's log; best effort (the result never
 * depends on it). `done` settles when the log stream ends (the container finished) or
 * cannot be had.
 */
export function followLogs(
  t: { kc: KubeConfig; namespace: string; name: string; log: Logger }, ctx: SandboxContext,
): { abort: AbortController; done: Promise<void> } {
  const outer = new AbortController();
  const done = (async () => {
    for (let i = 0; i < 30 && !outer.signal.aborted; i += 1) {
      const pod = (await podsOfJob(t.kc, t.namespace, t.name).catch(() => []))[0];
      const started = pod?.status?.initContainerStatuses?.find((s) => s.name === 'exec')?.state;
      if (pod?.metadata?.name && (started?.running || started?.terminated)) {
        let pending = '';
        let finished!: () => void;
        const ended = new Promise<void>((resolve) => { finished = resolve; });
        const sink = new Writable({
          write(chunk: Buffer, _enc, cb) {
            pending += chunk.toString('utf8');
            let nl: number;
            while ((nl = pending.indexOf('\n')) >= 0) { ctx.onLine?.('stdout', pending.slice(0, nl)); pending = pending.slice(nl + 1); }
            cb();
          },
          final(cb) {
            if (pending) ctx.onLine?.('stdout', pending);
            pending = '';
            cb();
          },
        });
        sink.once('finish', finished).once('error', finished).once('close', finished);
        try {
          // A container that already ended has its whole log: read it, no need to follow.
          const c = await new Log(t.kc).log(t.namespace, pod.metadata.name, 'exec', sink, { follow: !started.terminated });
          outer.signal.addEventListener('abort', () => {
            try {
              c.abort();
            } catch {
              // the request rejects with an AbortError when cut mid-stream: expected
            }
            finished();
          }, { once: true });
          await ended;
        } catch (err) {
          t.log.debug({ err, job: t.name }, 'pod logs unavailable; the result record still carries the output');
        }
        return;
      }
      await sleep(1000);
    }
  })();
  return { abort: outer, done };
}
