/**
 * Kubernetes executor: one batch/v1 Job per execution, spawned and watched to
 * completion. The Job's name comes from run and step, so an activity retried
 * after a worker crash adopts the Job its earlier attempt created (409) rather
 * than starting a second. The outcome is the result record the runner writes
 * to S3; pod logs only feed the live log.
 */
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  ApiException, BatchV1Api, CoreV1Api, KubeConfig, Log, Watch, type V1Job, type V1Pod,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { FAILURE_TYPES, nonRetryable } from '../../activities/errors.ts';
import { isNotFound } from '../../infra/s3.ts';
import type { KubernetesSandboxConfig } from '../../shared/config.ts';
import { s3Keys } from '../../shared/names.ts';
import type { Executor, SandboxContext, SandboxRequest, SandboxResult } from '../types.ts';
import { buildJobManifest, jobName, LABELS } from './manifest.ts';

export interface KubernetesExecutorDeps {
  s3: S3Client;
  bucket: string;
  cfg: KubernetesSandboxConfig;
  log: Logger;
  maxWorkspaceBytes: number;
  maxFileBytes: number;
}

const WATCH_TIMEOUT_S = 30;
const HEARTBEAT_MS = 1000;
const DELETE_CONFIRM_MS = 30_000;

export function loadKubeConfig(cfg: Pick<KubernetesSandboxConfig, 'kubeconfig'>): KubeConfig {
  const kc = new KubeConfig();
  if (cfg.kubeconfig) kc.loadFromFile(cfg.kubeconfig);
  else kc.loadFromCluster();
  return kc;
}

export function statusCode(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : (err as { code?: unknown })?.code === undefined ? undefined
    : typeof (err as { code: unknown }).code === 'number' ? (err as { code: number }).code : undefined;
}

type Finished = { kind: 'complete' } | { kind: 'failed'; reason: string; message: string };

function finished(job: V1Job): Finished | undefined {
  for (const c of job.status?.conditions ?? []) {
    if (c.status !== 'True') continue;
    if (c.type === 'Complete') return { kind: 'complete' };
    if (c.type === 'Failed') return { kind: 'failed', reason: c.reason ?? 'Failed', message: c.message ?? '' };
  }
  return undefined;
}

/** How long a finished Job's log follow may take to read the rest of the output. */
const LOG_DRAIN_MS = 3000;

/** The output of a result record, as log lines (stdout, then stderr). */
function replayOutput(result: SandboxResult, ctx: SandboxContext): void {
  if (!ctx.onLine) return;
  for (const [stream, text] of [['stdout', result.stdout], ['stderr', result.stderr]] as const) {
    if (!text) continue;
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    for (const line of lines) ctx.onLine(stream, line);
  }
}

export class KubernetesExecutor implements Executor {
  readonly kind = 'kubernetes' as const;
  private readonly deps: KubernetesExecutorDeps;
  private readonly kc: KubeConfig;
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;

  constructor(deps: KubernetesExecutorDeps, kc: KubeConfig = loadKubeConfig(deps.cfg)) {
    this.deps = deps;
    this.kc = kc;
    this.batch = kc.makeApiClient(BatchV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async run(req: SandboxRequest, ctx: SandboxContext): Promise<SandboxResult> {
    const recorded = await this.readResult(req);
    if (recorded) {
      replayOutput(recorded, ctx); // an earlier attempt finished the Job: its output still reaches this attempt's log
      return recorded;
    }
    const namespace = this.deps.cfg.namespace;
    const name = jobName(req.runId, req.index);
    const manifest = buildJobManifest({ req, cfg: this.deps.cfg, maxWorkspaceBytes: this.deps.maxWorkspaceBytes, maxFileBytes: this.deps.maxFileBytes });
    let job: V1Job;
    try {
      job = await this.batch.createNamespacedJob({ namespace, body: manifest });
      this.deps.log.info({ job: name, runId: req.runId, index: req.index }, 'tool job created');
    } catch (err) {
      if (statusCode(err) !== 409) throw this.apiFailure(err, 'create');
      job = await this.batch.readNamespacedJob({ name, namespace });
      if (job.metadata?.labels?.[LABELS.runId] !== req.runId || job.metadata?.labels?.[LABELS.step] !== String(req.index)) {
        throw nonRetryable(FAILURE_TYPES.sandboxFailed, `job ${name} exists but belongs to another execution`);
      }
      this.deps.log.info({ job: name, runId: req.runId, index: req.index }, 'tool job adopted');
    }

    const beat = setInterval(() => ctx.heartbeat?.({ job: name }), HEARTBEAT_MS);
    let logs: { abort: AbortController; done: Promise<void> } | undefined;
    let live = 0;
    const liveCtx: SandboxContext = { ...ctx, onLine: ctx.onLine && ((stream, line) => { live += 1; ctx.onLine!(stream, line); }) };
    try {
      const end = await this.waitFor(name, job, ctx, (j) => {
        if (!logs && ctx.onLine && (j.status?.active ?? 0) > 0) logs = this.followLogs(name, liveCtx);
      });
      // Let the log follow read to the container's end before it is cut.
      if (logs) await Promise.race([logs.done, sleep(LOG_DRAIN_MS)]);
      logs?.abort.abort();
      if (end.kind === 'failed') throw await this.failure(name, req, end);
      const result = await this.readResult(req);
      if (!result) {
        throw nonRetryable(FAILURE_TYPES.sandboxNoResult, `job ${name} completed but its runner recorded no result at ${s3Keys.sandboxResult(req.userId, req.runId, req.index)}`);
      }
      // No pod logs (none served, or the pod was gone before they could be followed):
      // the run's log gets the output from the result record instead.
      if (live === 0) replayOutput(result, ctx);
      return result;
    } catch (err) {
      if (ctx.signal.aborted) {
        await this.deleteAndConfirm(name);
        throw ctx.signal.reason ?? err;
      }
      throw err;
    } finally {
      clearInterval(beat);
      logs?.abort.abort();
    }
  }

  private async readResult(req: SandboxRequest): Promise<SandboxResult | undefined> {
    try {
      const res = await this.deps.s3.send(new GetObjectCommand({ Bucket: this.deps.bucket, Key: s3Keys.sandboxResult(req.userId, req.runId, req.index) }));
      return JSON.parse(await res.Body!.transformToString('utf8')) as SandboxResult;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Watches the Job until it completes or fails, re-watching from the last resourceVersion. */
  private async waitFor(name: string, initial: V1Job, ctx: SandboxContext, onUpdate: (j: V1Job) => void): Promise<Finished> {
    const namespace = this.deps.cfg.namespace;
    let current = initial;
    const watch = new Watch(this.kc);
    for (;;) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
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
          ctx.signal.removeEventListener('abort', onAbort);
          controller?.abort();
          resolve(v);
        };
        const onAbort = () => settle({});
        ctx.signal.addEventListener('abort', onAbort, { once: true });
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
          if (err) this.deps.log.debug({ err, job: name }, 'job watch ended; re-watching');
          settle({ gone: statusCode(err) === 410 });
        }).then((c) => { controller = c; if (settled) c.abort(); }, (err: unknown) => {
          this.deps.log.warn({ err, job: name }, 'job watch failed to start; retrying');
          void sleep(1000).then(() => settle({ gone: true }));
        });
      });
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (outcome.deleted) throw new Error(`job ${name} was deleted before it finished`); // retryable: the next attempt recreates it
      if (outcome.job) { current = outcome.job; continue; }
      if (outcome.gone) {
        // The watch fell behind (410 Gone) or could not start: read the current object and carry on from it.
        try {
          current = await this.batch.readNamespacedJob({ name, namespace });
        } catch (err) {
          if (statusCode(err) === 404) throw new Error(`job ${name} disappeared before it finished`, { cause: err });
          throw err;
        }
      } else if (rv) {
        current = { ...current, metadata: { ...current.metadata, resourceVersion: rv } };
      }
    }
  }

  private async failure(name: string, req: SandboxRequest, end: Extract<Finished, { kind: 'failed' }>) {
    const pods = await this.podsOf(name).catch(() => [] as V1Pod[]);
    const terminated = pods.flatMap((p) => [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])])
      .map((s) => ({ container: s.name, ...s.state?.terminated }))
      .filter((t) => t.exitCode !== undefined && t.exitCode !== 0);
    const details = { job: name, reason: end.reason, message: end.message, terminated };
    if (end.reason === 'DeadlineExceeded') {
      return nonRetryable(FAILURE_TYPES.sandboxDeadline, `job ${name} exceeded its deadline (${Math.ceil(req.limits.timeoutMs / 1000) + this.deps.cfg.deadlineGraceS} s)`, details);
    }
    const first = terminated[0];
    const why = first ? `container ${first.container} exited ${first.exitCode}${first.reason ? ` (${first.reason})` : ''}` : end.message || end.reason;
    return nonRetryable(FAILURE_TYPES.sandboxFailed, `job ${name} failed: ${why}`, details);
  }

  private async podsOf(name: string): Promise<V1Pod[]> {
    const list = await this.core.listNamespacedPod({ namespace: this.deps.cfg.namespace, labelSelector: `job-name=${name}` });
    return list.items;
  }

  /**
   * Streams the exec container's output into the run's log; best effort (the result never
   * depends on it). `done` settles when the log stream ends (the container finished) or
   * cannot be had.
   */
  private followLogs(name: string, ctx: SandboxContext): { abort: AbortController; done: Promise<void> } {
    const outer = new AbortController();
    const done = (async () => {
      for (let i = 0; i < 30 && !outer.signal.aborted; i += 1) {
        const pod = (await this.podsOf(name).catch(() => []))[0];
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
            const c = await new Log(this.kc).log(this.deps.cfg.namespace, pod.metadata.name, 'exec', sink, { follow: !started.terminated });
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
            this.deps.log.debug({ err, job: name }, 'pod logs unavailable; the result record still carries the output');
          }
          return;
        }
        await sleep(1000);
      }
    })();
    return { abort: outer, done };
  }

  /** Deletes the Job (its pods go with it: Background propagation) and waits until the API no longer has it. */
  async deleteAndConfirm(name: string): Promise<void> {
    const namespace = this.deps.cfg.namespace;
    try {
      await this.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
    const deadline = Date.now() + DELETE_CONFIRM_MS;
    while (Date.now() < deadline) {
      try {
        await this.batch.readNamespacedJob({ name, namespace });
      } catch (err) {
        if (statusCode(err) === 404) return;
      }
      await sleep(200);
    }
    this.deps.log.warn({ job: name }, 'job still present after delete; the garbage collector will finish');
  }

  private apiFailure(err: unknown, what: string): Error {
    const code = statusCode(err);
    // 400/403/422: the request or our permissions are wrong; retrying the same cannot help.
    if (code === 400 || code === 403 || code === 422) {
      const body = err instanceof ApiException ? String((err.body as { message?: string })?.message ?? err.message) : String(err);
      return nonRetryable(FAILURE_TYPES.sandboxFailed, `kubernetes refused to ${what} the job (${code}): ${body}`);
    }
    return err instanceof Error ? err : new Error(String(err));
  }
}
