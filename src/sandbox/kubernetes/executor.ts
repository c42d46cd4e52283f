/**
 * Kubernetes executor: one batch/v1 Job per execution, spawned and watched to
 * completion. The Job's name comes from run and step, so an activity retried
 * after a worker crash adopts the Job its earlier attempt created (409) rather
 * than starting a second. The outcome is the result record the runner writes
 * to S3; pod logs only feed the live log.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchV1Api, type KubeConfig, type V1Job, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubernetesSandboxConfig } from '../../shared/config.ts';
import { s3Keys } from '../../shared/names.ts';
import { SandboxDeadlineExceeded, SandboxFailed, SandboxNoResult } from '../errors.ts';
import type { Executor, SandboxContext, SandboxRequest, SandboxResult, SandboxWorkspace } from '../types.ts';
import type { BrowserHost } from '../browser.ts';
import { PodBrowserHost } from './browser.ts';
import { apiMessage, loadKubeConfig, statusCode } from './api.ts';
import { followLogs, podsOfJob, replayOutput } from './logs.ts';
import { buildJobManifest, jobName, jobSelector, LABELS } from './manifest.ts';
import { waitForJob, type Finished } from './watch.ts';

export interface KubernetesExecutorDeps {
  /** Where the runner's result records are read (the runner itself pulls and pushes). */
  workspace: Pick<SandboxWorkspace, 'getJson'>;
  cfg: KubernetesSandboxConfig;
  log: Logger;
  maxWorkspaceBytes: number;
  maxFileBytes: number;
  /** How long a create refused 403 (not by the quota) is tried again before the step fails with it; FORBIDDEN_GRACE_MS by default. */
  forbiddenGraceMs?: number;
}

const HEARTBEAT_MS = 1000;
/** Backoff while the tools namespace's quota is full. */
const QUOTA_RETRY_MS = { first: 500, max: 10_000 };
const DELETE_CONFIRM_MS = 30_000;
/**
 * A create refused 403 other than by the quota is tried again for this long: an apiserver
 * that has just restarted refuses everything its RBAC authorizer has not loaded yet (seconds).
 * A Role that truly lacks the right fails the step after it (the worker's start checks it too).
 */
const FORBIDDEN_GRACE_MS = 30_000;
/** How long a finished Job's log follow may take to read the rest of the output. */
const LOG_DRAIN_MS = 3000;

export class KubernetesExecutor implements Executor {
  readonly kind = 'kubernetes' as const;
  /** The browser tool, a Job per page in K8S_BROWSER_IMAGE (./browser.ts); absent without that image. */
  readonly browser?: BrowserHost;
  readonly browserAbsent?: string;
  private readonly deps: KubernetesExecutorDeps;
  private readonly kc: KubeConfig;
  private readonly batch: BatchV1Api;

  constructor(deps: KubernetesExecutorDeps, kc: KubeConfig = loadKubeConfig(deps.cfg)) {
    this.deps = deps;
    this.kc = kc;
    this.batch = kc.makeApiClient(BatchV1Api);
    if (deps.cfg.browserImage) this.browser = new PodBrowserHost(this, deps.cfg.browserImage, deps.cfg.browserPath);
    else this.browserAbsent = 'this worker runs steps as Kubernetes Jobs and K8S_BROWSER_IMAGE (a runner image with Chromium) is not set';
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
      job = await this.createJob(namespace, manifest, ctx);
      this.deps.log.info({ job: name, runId: req.runId, index: req.index }, 'tool job created');
    } catch (err) {
      if (statusCode(err) !== 409) throw this.apiFailure(err, 'create');
      job = await this.batch.readNamespacedJob({ name, namespace });
      if (job.metadata?.labels?.[LABELS.runId] !== req.runId || job.metadata?.labels?.[LABELS.step] !== String(req.index)) {
        throw new SandboxFailed(`job ${name} exists but belongs to another execution`);
      }
      if (job.metadata?.deletionTimestamp) {
        // An earlier attempt was stopped (its worker shut down, or it was cancelled) and is deleting
        // its Job: that Job's pod was killed, so there is nothing to adopt. A new Job once it is gone.
        this.deps.log.info({ job: name, runId: req.runId, index: req.index }, 'tool job being deleted by an earlier attempt: waiting to create it anew');
        await this.deleteAndConfirm(name);
        job = await this.createJob(namespace, manifest, ctx);
      } else this.deps.log.info({ job: name, runId: req.runId, index: req.index }, 'tool job adopted');
    }

    const target = { kc: this.kc, namespace, name, log: this.deps.log };
    const beat = setInterval(() => ctx.heartbeat?.({ job: name }), HEARTBEAT_MS);
    let logs: { abort: AbortController; done: Promise<void> } | undefined;
    let live = 0;
    const liveCtx: SandboxContext = { ...ctx, onLine: ctx.onLine && ((stream, line) => { live += 1; ctx.onLine!(stream, line); }) };
    try {
      const end = await waitForJob(target, job, ctx.signal, (j) => {
        if (!logs && ctx.onLine && (j.status?.active ?? 0) > 0) logs = followLogs(target, liveCtx);
      });
      // Let the log follow read to the container's end before it is cut.
      if (logs) await Promise.race([logs.done, sleep(LOG_DRAIN_MS)]);
      logs?.abort.abort();
      if (end.kind === 'failed') throw await this.failure(name, req, end);
      const result = await this.readResult(req);
      if (!result) {
        throw new SandboxNoResult(`job ${name} completed but its runner recorded no result at ${s3Keys.sandboxResult(req.userId, req.runId, req.index)}`);
      }
      // No pod logs (none served, or the pod was gone before they could be followed):
      // the run's log gets the output from the result record instead.
      if (live === 0) replayOutput(result, ctx);
      return result;
    } catch (err) {
      if (ctx.signal.aborted) {
        const reason: unknown = ctx.signal.reason ?? err;
        if (ctx.workerStopping?.()) {
          // The worker goes away, not the step: the Job runs on, and the step's next attempt adopts it.
          this.deps.log.info({ job: name, runId: req.runId, index: req.index }, 'worker stopping: the tool job goes on for the step\'s next attempt');
          throw reason;
        }
        // The step was cancelled: its Job goes. An apiserver away for longer than the wait must not
        // turn the cancellation into a failure; the Job's own deadline ends it then.
        await this.deleteAndConfirm(name).catch((e: unknown) => {
          this.deps.log.error({ err: e, job: name, runId: req.runId }, 'could not delete the job of a cancelled step; its deadline (activeDeadlineSeconds) ends it');
        });
        throw reason;
      }
      throw err;
    } finally {
      clearInterval(beat);
      logs?.abort.abort();
    }
  }

  /** Deletes every Job of run `runId` (see Executor.stopRun): Background propagation, not waited for. */
  async stopRun(runId: string): Promise<number> {
    const namespace = this.deps.cfg.namespace;
    const jobs = (await this.batch.listNamespacedJob({ namespace, labelSelector: jobSelector(runId) })).items.filter((j) => !j.metadata?.deletionTimestamp);
    await Promise.all(jobs.map((j) => this.batch.deleteNamespacedJob({ name: j.metadata!.name!, namespace, propagationPolicy: 'Background' }).catch((err: unknown) => {
      if (statusCode(err) !== 404) throw err;
    })));
    return jobs.length;
  }

  private readResult(req: SandboxRequest): Promise<SandboxResult | undefined> {
    return this.deps.workspace.getJson<SandboxResult>(s3Keys.sandboxResult(req.userId, req.runId, req.index));
  }

  private async failure(name: string, req: SandboxRequest, end: Extract<Finished, { kind: 'failed' }>): Promise<SandboxFailed> {
    const pods = await podsOfJob(this.kc, this.deps.cfg.namespace, name).catch(() => [] as V1Pod[]);
    const terminated = pods.flatMap((p) => [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])])
      .map((s) => ({ container: s.name, ...s.state?.terminated }))
      .filter((t) => t.exitCode !== undefined && t.exitCode !== 0);
    const details = { job: name, reason: end.reason, message: end.message, terminated };
    if (end.reason === 'DeadlineExceeded') {
      return new SandboxDeadlineExceeded(`job ${name} exceeded its deadline (${Math.ceil(req.limits.timeoutMs / 1000) + this.deps.cfg.deadlineGraceS} s)`, details);
    }
    const first = terminated[0];
    const why = first ? `container ${first.container} exited ${first.exitCode}${first.reason ? ` (${first.reason})` : ''}` : end.message || end.reason;
    return new SandboxFailed(`job ${name} failed: ${why}`, details);
  }

  /**
   * Deletes the Job (its pods go with it: Background propagation) and waits until the API no
   * longer has it. A delete the apiserver cannot take now (unreachable, 5xx, or 403 while its
   * authorizer warms up after a restart) is tried again until DELETE_CONFIRM_MS, then thrown.
   */
  async deleteAndConfirm(name: string): Promise<void> {
    const namespace = this.deps.cfg.namespace;
    const deadline = Date.now() + DELETE_CONFIRM_MS;
    for (;;) {
      try {
        await this.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' });
        break;
      } catch (err) {
        const code = statusCode(err);
        if (code === 404) return;
        const passing = code === undefined || code >= 500 || code === 403 || code === 429;
        if (!passing || Date.now() >= deadline) throw err;
        await sleep(500);
      }
    }
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

  /**
   * Creates the Job. While the tools namespace's ResourceQuota has no room (403 "exceeded quota": other
   * steps' Jobs hold it), waits and tries again, heartbeating, until there is room or the step is cancelled
   * or times out: a full quota is back-pressure, not a broken step. Another 403 is tried again for
   * FORBIDDEN_GRACE_MS (an authorizer warming up after a restart), heartbeating too, then thrown.
   */
  private async createJob(namespace: string, body: V1Job, ctx: SandboxContext): Promise<V1Job> {
    const job = body.metadata?.name;
    let wait = QUOTA_RETRY_MS.first;
    let forbiddenSince: number | undefined;
    for (let waiting = false; ; ) {
      try {
        return await this.batch.createNamespacedJob({ namespace, body });
      } catch (err) {
        const quota = quotaExceeded(err);
        if (quota) {
          if (!waiting) this.deps.log.warn({ job, namespace, quota }, 'tools namespace quota exhausted: the step waits for room');
          ctx.heartbeat?.({ job, waiting: 'quota', quota });
        } else if (statusCode(err) === 403) {
          forbiddenSince ??= Date.now();
          if (Date.now() - forbiddenSince >= (this.deps.forbiddenGraceMs ?? FORBIDDEN_GRACE_MS)) throw err;
          const reason = apiMessage(err);
          if (!waiting) this.deps.log.warn({ job, namespace, reason }, 'the apiserver refuses to create the job (403): trying again, as an apiserver that has just started does');
          ctx.heartbeat?.({ job, waiting: 'authorization', reason });
        } else throw err;
        waiting = true;
        await sleep(wait, undefined, { signal: ctx.signal });
        wait = Math.min(wait * 2, QUOTA_RETRY_MS.max);
      }
    }
  }

  private apiFailure(err: unknown, what: string): Error {
    const code = statusCode(err);
    // 400/403/422: the request or our permissions are wrong; retrying the same cannot help.
    if (code === 400 || code === 403 || code === 422) {
      return new SandboxFailed(`kubernetes refused to ${what} the job (${code}): ${apiMessage(err)}`);
    }
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** The apiserver's refusal when a ResourceQuota has no room (403 Forbidden, "exceeded quota: …"): its message, else undefined. */
function quotaExceeded(err: unknown): string | undefined {
  if (statusCode(err) !== 403) return undefined;
  const message = apiMessage(err);
  const at = message.indexOf('exceeded quota');
  return at < 0 ? undefined : message.slice(at);
}
