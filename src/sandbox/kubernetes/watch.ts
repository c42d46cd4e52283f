/** Waits for a Job to finish: a watch on the one Job, re-watched from the last resourceVersion until it completes or fails. */
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchV1Api, Watch, type KubeConfig, type V1Job } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { statusCode } from './api.ts';

const WATCH_TIMEOUT_S = 30;

export type Finished = { kind: 'complete' } | { kind: 'failed'; reason: string; message: string };

export function finished(job: V1Job): Finished | undefined {
  for (const c of job.status?.conditions ?? []) {
    if (c.status !== 'True') continue;
    if (c.type === 'Complete') return { kind: 'complete' };
    if (c.type === 'Failed') return { kind: 'failed', reason: c.reason ?? 'Failed', message: c.message ?? '' };
  }
  return undefined;
}

export interface WaitTarget { kc: KubeConfig; namespace: string; name: string; log: Logger }

/** Watches the Job until it completes or fails, re-watching from the last resourceVersion; `onUpdate` sees every state. */
export async function waitForJob(t: WaitTarget, initial: V1Job, signal: AbortSignal, onUpdate: (j: V1Job) => void): Promise<Finished> {
  const { namespace, name } = t;
  const batch = t.kc.makeApiClient(BatchV1Api);
  let current = initial;
  const watch = new Watch(t.kc);
  for (;;) {
    if (signal.aborted) throw signal.reason;
    onUpdate(current);
    const done = finished(current);
    if (done) return done;
    let rv = current.metadata?.resourceVersion;
    const outcome = await new Promise<{ job?: V1Job; deleted?: boolean; gone?: boolean }>((resolve) => {
      let controller: AbortController | undefined;
      let settled = false;
      const settle = (v: { job?: V1Job; deleted?: boolean; gone?: boolean }) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        controller?.abort();
        resolve(v);
      };
      const onAbort = () => settle({});
      signal.addEventListener('abort', onAbort, { once: true });
      watch.watch(`/apis/batch/v1/namespaces/${namespace}/jobs`, {
        fieldSelector: `metadata.name=${name}`, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: WATCH_TIMEOUT_S,
      }, (type, obj: V1Job & { code?: number }) => {
        if (type === 'ERROR') { settle({ gone: obj.code === 410 }); return; }
        rv = obj.metadata?.resourceVersion ?? rv;
        if (type === 'BOOKMARK') return;
        if (type === 'DELETED') { settle({ deleted: true }); return; }
        onUpdate(obj);
        if (finished(obj)) settle({ job: obj });
        else current = obj;
      }, (err: unknown) => {
        if (err) t.log.debug({ err, job: name }, 'job watch ended; re-watching');
        settle({ gone: statusCode(err) === 410 });
      }).then((c) => { controller = c; if (settled) c.abort(); }, (err: unknown) => {
        t.log.warn({ err, job: name }, 'job watch failed to start; retrying');
        void sleep(1000).then(() => settle({ gone: true }));
      });
    });
    if (signal.aborted) throw signal.reason;
    if (outcome.deleted) throw new Error(`job ${name} was deleted before it finished`); // retryable: the next attempt recreates it
    if (outcome.job) { current = outcome.job; continue; }
    if (outcome.gone) {
      // The watch fell behind (410 Gone) or could not start: read the current object and carry on from it.
      try {
        current = await batch.readNamespacedJob({ name, namespace });
      } catch (err) {
        if (statusCode(err) === 404) throw new Error(`job ${name} disappeared before it finished`, { cause: err });
        throw err;
      }
    } else if (rv) {
      current = { ...current, metadata: { ...current.metadata, resourceVersion: rv } };
    }
  }
}
