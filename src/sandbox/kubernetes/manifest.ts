/**
 * The Job a tool execution runs as. Pure: the same request and configuration
 * always give the same manifest, and the name is derived from run and step so
 * a retried activity finds (adopts) the Job its earlier attempt created.
 */
import type { V1Container, V1EnvVar, V1Job } from '@kubernetes/client-node';
import type { KubernetesSandboxConfig } from '../../shared/config.ts';
import type { SandboxRequest } from '../types.ts';
import { sha256Hex } from '../../shared/hash.ts';
import { JOB_LABELS } from '../../shared/names.ts';

export const LABELS = JOB_LABELS;

const RUNNER_UID = 65532;
const MOUNT_ROOT = '/agentrun';

export function jobName(runId: string, index: number): string {
  const h = sha256Hex(runId).slice(0, 16);
  return `agentrun-${h}-${index}`;
}

export function jobSelector(runId: string, index?: number): string {
  return index === undefined ? `${LABELS.runId}=${runId}` : `${LABELS.runId}=${runId},${LABELS.step}=${index}`;
}

export interface ManifestInput {
  req: SandboxRequest;
  cfg: KubernetesSandboxConfig;
  maxWorkspaceBytes: number;
  maxFileBytes: number;
}

export function buildJobManifest({ req, cfg, maxWorkspaceBytes, maxFileBytes }: ManifestInput): V1Job {
  const labels = {
    [LABELS.managedBy]: 'agentrun',
    [LABELS.runId]: req.runId,
    [LABELS.step]: String(req.index),
  };
  const resources = {
    requests: { cpu: cfg.cpu, memory: cfg.memory, 'ephemeral-storage': cfg.ephemeralStorage },
    limits: { cpu: cfg.cpu, memory: cfg.memory, 'ephemeral-storage': cfg.ephemeralStorage },
  };
  const base: V1EnvVar[] = [
    { name: 'AGENTRUN_REQUEST', value: JSON.stringify(req) },
    { name: 'AGENTRUN_WORKSPACE_DIR', value: `${MOUNT_ROOT}/workspace` },
    { name: 'AGENTRUN_STATE_DIR', value: `${MOUNT_ROOT}/state` },
    { name: 'AGENTRUN_EXCHANGE_DIR', value: `${MOUNT_ROOT}/exchange` },
    { name: 'AGENTRUN_MAX_WORKSPACE_BYTES', value: String(maxWorkspaceBytes) },
    { name: 'AGENTRUN_MAX_FILE_BYTES', value: String(maxFileBytes) },
    { name: 'HOME', value: '/tmp' },
  ];
  const s3: V1EnvVar[] = [
    ...(cfg.s3Endpoint ? [{ name: 'S3_ENDPOINT', value: cfg.s3Endpoint }] : []),
    { name: 'S3_REGION', value: cfg.s3Region },
    { name: 'S3_BUCKET', value: cfg.s3Bucket },
    { name: 'S3_FORCE_PATH_STYLE', value: String(cfg.s3ForcePathStyle) },
    { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: cfg.s3Secret, key: 'AWS_ACCESS_KEY_ID' } } },
    { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: cfg.s3Secret, key: 'AWS_SECRET_ACCESS_KEY' } } },
  ];
  const container = (phase: 'pull' | 'exec' | 'push', withS3: boolean, mounts: { name: string; readOnly: boolean }[]): V1Container => ({
    name: phase,
    image: phase === 'exec' ? (req.image ?? cfg.image) : cfg.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['node', '/app/src/runner/main.ts', phase],
    env: withS3 ? [...base, ...s3] : base,
    resources,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: RUNNER_UID,
      runAsGroup: RUNNER_UID,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      ...mounts.map((m) => ({ name: m.name, mountPath: `${MOUNT_ROOT}/${m.name}`, readOnly: m.readOnly })),
      // Each container's HOME and /tmp is its own: what the untrusted exec leaves there
      // (an ~/.aws/config, say) is never read by push, which holds the S3 credentials.
      { name: `tmp-${phase}`, mountPath: '/tmp' },
    ],
    terminationMessagePolicy: 'FallbackToLogsOnError',
  });
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName(req.runId, req.index),
      namespace: cfg.namespace,
      labels,
      annotations: { 'agentrun.dev/workspace': req.workspacePrefix },
    },
    spec: {
      backoffLimit: 0, // Temporal owns retries
      activeDeadlineSeconds: Math.ceil(req.limits.timeoutMs / 1000) + cfg.deadlineGraceS,
      ttlSecondsAfterFinished: cfg.ttlAfterFinishedS,
      template: {
        // A browser step's pod may reach public web addresses (k8s/base/tools-network-policy.yaml); other pods S3 only.
        metadata: { labels: { ...cfg.podLabels, ...labels, ...('browser' in req.command ? { [LABELS.egress]: 'web' } : {}) }, annotations: { ...cfg.podAnnotations } },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true, runAsUser: RUNNER_UID, runAsGroup: RUNNER_UID, fsGroup: RUNNER_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          initContainers: [
            container('pull', true, [{ name: 'workspace', readOnly: false }, { name: 'state', readOnly: false }, { name: 'exchange', readOnly: false }]),
            // The command runs without credentials and without the snapshot.
            container('exec', false, [{ name: 'workspace', readOnly: false }, { name: 'exchange', readOnly: false }]),
          ],
          containers: [
            container('push', true, [{ name: 'workspace', readOnly: true }, { name: 'state', readOnly: true }, { name: 'exchange', readOnly: true }]),
          ],
          volumes: [
            { name: 'workspace', emptyDir: { sizeLimit: cfg.ephemeralStorage } },
            { name: 'state', emptyDir: { sizeLimit: '64Mi' } },
            { name: 'exchange', emptyDir: { sizeLimit: '256Mi' } },
            ...(['pull', 'exec', 'push'] as const).map((phase) => ({ name: `tmp-${phase}`, emptyDir: { sizeLimit: '256Mi' } })),
          ],
        },
      },
    },
  };
}
