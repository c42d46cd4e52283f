/**
 * A full tools-namespace quota is back-pressure, not a failed step (docs/deploy.md,
 * "Quota exhausted"): against the real apiserver, in a namespace of its own whose
 * ResourceQuota allows no Job, the Kubernetes executor's create is refused with 403
 * "exceeded quota"; the step waits, heartbeating what it waits for, creates its Job
 * as soon as the quota has room, and a cancellation while it waits ends the wait.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../../src/infra/logger.ts';
import { KubernetesExecutor } from '../../src/sandbox/kubernetes/executor.ts';
import { jobSelector } from '../../src/sandbox/kubernetes/manifest.ts';
import type { SandboxRequest } from '../../src/sandbox/types.ts';
import { loadConfig } from '../../src/shared/config.ts';
import { s3Keys } from '../../src/shared/names.ts';
import { newRunId } from '../../src/runs/ids.ts';
import { WorkspaceStore } from '../../src/workspace/store.ts';
import { connectClients, kubeStackEnv, stackEnv, waitUntil } from '../helpers/stack.ts';
import type { Clients } from '../helpers/stack.ts';

const NS = `agentrun-quota-${randomBytes(3).toString('hex')}`;
const QUOTA = 'tools';

describe('kubernetes executor: the tools quota is full', { timeout: 300_000 }, () => {
  let c: Clients;
  let admin: KubeConfig;
  let core: CoreV1Api;
  let batch: BatchV1Api;

  before(async () => {
    const env = kubeStackEnv();
    c = await connectClients();
    admin = new KubeConfig();
    admin.loadFromFile(env.AGENTRUN_KUBE_ADMIN_KUBECONFIG);
    core = admin.makeApiClient(CoreV1Api);
    batch = admin.makeApiClient(BatchV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await core.createNamespacedResourceQuota({ namespace: NS, body: { metadata: { name: QUOTA }, spec: { hard: { 'count/jobs.batch': '0' } } } });
    // The quota controller computes `used` before admission enforces it.
    await waitUntil('quota status', async () => (await core.readNamespacedResourceQuota({ name: QUOTA, namespace: NS })).status?.hard?.['count/jobs.batch'] === '0');
  });
  after(async () => {
    await core?.deleteNamespace({ name: NS }).catch(() => undefined);
    await c?.close();
  });

  const executor = () => {
    const cfg = loadConfig({ ...stackEnv(), SANDBOX: 'kubernetes', K8S_NAMESPACE: NS }).sandbox;
    assert.equal(cfg.kind, 'kubernetes');
    return new KubernetesExecutor({
      workspace: new WorkspaceStore({ s3: c.s3, bucket: c.config.s3.bucket, fileMaxBytes: 1 << 20 }), log: createLogger('silent', 'test'),
      maxWorkspaceBytes: 1 << 20, maxFileBytes: 1 << 20, cfg: cfg.kubernetes,
    }, admin);
  };
  const request = (runId: string): SandboxRequest => ({
    runId, userId: 'quota-user', index: 0, workspacePrefix: s3Keys.workspaceFiles('quota-user', runId),
    command: { argv: ['true'] }, limits: { timeoutMs: 60_000, outputMaxBytes: 4096 },
  });
  const jobsOf = async (runId: string) => (await batch.listNamespacedJob({ namespace: NS, labelSelector: jobSelector(runId) })).items;

  it('waits, heartbeating "quota", and creates its Job once the quota has room', async () => {
    const runId = newRunId();
    const beats: unknown[] = [];
    const abort = new AbortController();
    const running = executor().run(request(runId), { signal: abort.signal, heartbeat: (d) => beats.push(d) }).catch((err: unknown) => err);
    const beat = await waitUntil('a heartbeat saying the step waits for the quota', () =>
      beats.find((b) => (b as { waiting?: string }).waiting === 'quota') as { quota: string } | undefined);
    assert.match(beat.quota, /^exceeded quota: tools, requested: count\/jobs\.batch=1, used: count\/jobs\.batch=0, limited: count\/jobs\.batch=0/);
    assert.equal((await jobsOf(runId)).length, 0);

    await core.replaceNamespacedResourceQuota({ name: QUOTA, namespace: NS, body: { metadata: { name: QUOTA }, spec: { hard: { 'count/jobs.batch': '1' } } } });
    await waitUntil('the Job, created once the quota had room', async () => (await jobsOf(runId)).length === 1, 60_000);
    abort.abort(); // kwok would run the pod; this test is about the wait, not the step
    await running;
  });

  it('a cancellation while it waits ends the wait, creating nothing', async () => {
    await core.replaceNamespacedResourceQuota({ name: QUOTA, namespace: NS, body: { metadata: { name: QUOTA }, spec: { hard: { 'count/jobs.batch': '0' } } } });
    await waitUntil('quota lowered', async () => (await core.readNamespacedResourceQuota({ name: QUOTA, namespace: NS })).status?.hard?.['count/jobs.batch'] === '0');
    const runId = newRunId();
    const beats: unknown[] = [];
    const abort = new AbortController();
    const running = executor().run(request(runId), { signal: abort.signal, heartbeat: (d) => beats.push(d) });
    await waitUntil('waiting for the quota', () => beats.some((b) => (b as { waiting?: string }).waiting === 'quota'));
    abort.abort();
    await assert.rejects(running, (err: Error) => err.name === 'AbortError');
    assert.equal((await jobsOf(runId)).length, 0);
  });
});
