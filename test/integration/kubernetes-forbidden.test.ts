/**
 * A Job create refused 403 for want of a right (not the quota) against the real apiserver,
 * as the worker's own identity sees it in a namespace its Role does not cover yet: what an
 * apiserver that has just restarted answers until its RBAC authorizer has loaded. The step
 * tries again for a while, heartbeating why it waits, and creates its Job as soon as the
 * right exists; a right that never comes fails the step with the apiserver's own words.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { BatchV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { TOOLS_NAMESPACE } from '../../src/dev/services/kube/layout.ts';
import { createLogger } from '../../src/infra/logger.ts';
import { SandboxFailed } from '../../src/sandbox/errors.ts';
import { KubernetesExecutor } from '../../src/sandbox/kubernetes/executor.ts';
import { jobSelector } from '../../src/sandbox/kubernetes/manifest.ts';
import type { SandboxRequest } from '../../src/sandbox/types.ts';
import { loadConfig } from '../../src/shared/config.ts';
import { s3Keys } from '../../src/shared/names.ts';
import { newRunId } from '../../src/runs/ids.ts';
import { WorkspaceStore } from '../../src/workspace/store.ts';
import { connectClients, kubeStackEnv, stackEnv, waitUntil } from '../helpers/stack.ts';
import type { Clients } from '../helpers/stack.ts';

const NS = `agentrun-authz-${randomBytes(3).toString('hex')}`;
const ROLE = 'agentrun-worker';

describe('kubernetes executor: the apiserver refuses the worker (403)', { timeout: 300_000 }, () => {
  let c: Clients;
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let rbac: RbacAuthorizationV1Api;

  before(async () => {
    const env = kubeStackEnv();
    c = await connectClients();
    const admin = new KubeConfig();
    admin.loadFromFile(env.AGENTRUN_KUBE_ADMIN_KUBECONFIG);
    core = admin.makeApiClient(CoreV1Api);
    batch = admin.makeApiClient(BatchV1Api);
    rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
  });
  after(async () => {
    await core?.deleteNamespace({ name: NS }).catch(() => undefined);
    await c?.close();
  });

  // The worker's identity (K8S_KUBECONFIG), not the admin's: in NS it has no Role until the test grants one.
  const executor = (forbiddenGraceMs: number) => {
    const cfg = loadConfig({ ...stackEnv(), SANDBOX: 'kubernetes', K8S_NAMESPACE: NS }).sandbox;
    assert.equal(cfg.kind, 'kubernetes');
    return new KubernetesExecutor({
      workspace: new WorkspaceStore({ s3: c.s3, bucket: c.config.s3.bucket, fileMaxBytes: 1 << 20 }), log: createLogger('silent', 'test'),
      maxWorkspaceBytes: 1 << 20, maxFileBytes: 1 << 20, cfg: cfg.kubernetes, forbiddenGraceMs,
    });
  };
  const request = (runId: string): SandboxRequest => ({
    runId, userId: 'authz-user', index: 0, workspacePrefix: s3Keys.workspaceFiles('authz-user', runId),
    command: { argv: ['true'] }, limits: { timeoutMs: 60_000, outputMaxBytes: 4096 },
  });
  const jobsOf = async (runId: string) => (await batch.listNamespacedJob({ namespace: NS, labelSelector: jobSelector(runId) })).items;

  it('a right that never comes fails the step after the grace, with the apiserver\'s words', async () => {
    const beats: unknown[] = [];
    const failed = await executor(1500).run(request(newRunId()), { signal: new AbortController().signal, heartbeat: (d) => beats.push(d) }).catch((err: unknown) => err);
    assert.ok(failed instanceof SandboxFailed, String(failed));
    assert.match(failed.message, /kubernetes refused to create the job \(403\): .*forbidden/);
    assert.ok(beats.some((b) => (b as { waiting?: string }).waiting === 'authorization'), 'it said why it waited');
  });

  it('waits, heartbeating "authorization", and creates its Job once the right exists', async () => {
    const runId = newRunId();
    const beats: unknown[] = [];
    const abort = new AbortController();
    const running = executor(120_000).run(request(runId), { signal: abort.signal, heartbeat: (d) => beats.push(d) }).catch((err: unknown) => err);
    const beat = await waitUntil('a heartbeat saying the step waits for authorization', () =>
      beats.find((b) => (b as { waiting?: string }).waiting === 'authorization') as { reason: string } | undefined);
    assert.match(beat.reason, /jobs\.batch is forbidden: User ".*" cannot create resource "jobs"/);

    // The worker's Role and RoleBinding, as the tools namespace has them.
    const role = await rbac.readNamespacedRole({ name: ROLE, namespace: TOOLS_NAMESPACE });
    const binding = (await rbac.listNamespacedRoleBinding({ namespace: TOOLS_NAMESPACE })).items.find((b) => b.roleRef.name === ROLE);
    assert.ok(binding, `a RoleBinding of ${ROLE} in ${TOOLS_NAMESPACE}`);
    await rbac.createNamespacedRole({ namespace: NS, body: { metadata: { name: ROLE }, rules: role.rules } });
    await rbac.createNamespacedRoleBinding({ namespace: NS, body: { metadata: { name: ROLE }, roleRef: binding.roleRef, subjects: binding.subjects } });

    await waitUntil('the Job, created once the right existed', async () => (await jobsOf(runId)).length === 1, 60_000);
    abort.abort(); // kwok would run the pod; this test is about the wait, not the step
    await running;
  });
});
