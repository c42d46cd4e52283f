/**
 * The tool Job manifest is a pure function of request and configuration:
 * deterministic names, a hardened pod, credentials only where S3 is used, and
 * a request that the runner reads back exactly.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Container, V1Job } from '@kubernetes/client-node';
import { buildJobManifest, jobName, LABELS } from '../../src/sandbox/kubernetes/manifest.ts';
import { parseSandboxRequest } from '../../src/sandbox/request.ts';
import type { SandboxRequest } from '../../src/sandbox/types.ts';
import { loadConfig, type KubernetesSandboxConfig } from '../../src/shared/config.ts';

const browserCommand = {
  page: { url: 'https://example.com/', screenshot: true, text: false, timeoutMs: 30_000 }, files: { screenshot: 'a.png' },
  egress: { allowHosts: [], allowPorts: [80, 443], maxBytes: 1000, timeoutMs: 1000 }, maxPageBytes: 5000, chromium: '/usr/lib/chromium/chromium',
};

const cfg: KubernetesSandboxConfig = {
  namespace: 'agentrun-tools', image: 'ghcr.io/agentrun/runner:test',
  browserPath: '/usr/lib/chromium/chromium',
  cpu: '250m', memory: '256Mi', ephemeralStorage: '2Gi', ttlAfterFinishedS: 300, deadlineGraceS: 60,
  s3Secret: 'runner-s3', s3Endpoint: 'http://minio.example:9000', s3Region: 'ch-gva-2', s3Bucket: 'ws-bucket', s3ForcePathStyle: true,
  podLabels: { 'team': 'agents', 'netpol.example/egress': 's3-only' }, podAnnotations: { 'cost.example/center': 'r&d 42' },
};

const request = (over: Partial<SandboxRequest> = {}): SandboxRequest => ({
  runId: 'run_01jabcdefghjkmnpqrstvwxyz0', userId: 'user-1', index: 3,
  workspacePrefix: 'users/user-1/runs/run_01jabcdefghjkmnpqrstvwxyz0/files/',
  command: { argv: ['sh', '-c', 'echo "quoted $HOME" && ls'] },
  env: { GREETING: 'grüezi\nmultiline' },
  limits: { timeoutMs: 90_500, outputMaxBytes: 65536 },
  ...over,
});

const build = (req = request(), c = cfg) => buildJobManifest({ req, cfg: c, maxWorkspaceBytes: 1 << 30, maxFileBytes: 100 << 20 });
const containers = (job: V1Job): V1Container[] => [...(job.spec!.template.spec!.initContainers ?? []), ...job.spec!.template.spec!.containers];
const byName = (job: V1Job, name: string) => containers(job).find((c) => c.name === name)!;
const envOf = (c: V1Container) => new Map((c.env ?? []).map((e) => [e.name, e]));

describe('tool Job manifest', () => {
  it('is deterministic, and its name comes from run and step (DNS-1123, at most 63 chars)', () => {
    assert.deepEqual(build(), build());
    assert.equal(build().metadata!.name, jobName(request().runId, 3));
    assert.notEqual(jobName('run_a', 3), jobName('run_a', 4));
    assert.notEqual(jobName('run_a', 3), jobName('run_b', 3));
    for (const name of [jobName(request().runId, 0), jobName('x'.repeat(64), 99_999), jobName('run_Z', 2 ** 31)]) {
      assert.ok(name.length <= 63, name);
      assert.match(name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
  });

  it('runs pull and exec as init containers and push as the main container, in that order', () => {
    const spec = build().spec!.template.spec!;
    assert.deepEqual(spec.initContainers!.map((c) => c.name), ['pull', 'exec']);
    assert.deepEqual(spec.containers.map((c) => c.name), ['push']);
    for (const c of containers(build())) assert.deepEqual(c.command, ['node', '/app/src/runner/main.ts', c.name]);
    assert.equal(spec.restartPolicy, 'Never');
  });

  it('hardens every container and the pod', () => {
    const job = build();
    const pod = job.spec!.template.spec!;
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.enableServiceLinks, false);
    assert.equal(pod.securityContext!.runAsNonRoot, true);
    assert.deepEqual(pod.securityContext!.seccompProfile, { type: 'RuntimeDefault' });
    assert.equal(containers(job).length, 3);
    for (const c of containers(job)) {
      const sc = c.securityContext!;
      assert.equal(sc.runAsNonRoot, true, c.name);
      assert.ok((sc.runAsUser ?? 0) > 0, c.name);
      assert.equal(sc.readOnlyRootFilesystem, true, c.name);
      assert.equal(sc.allowPrivilegeEscalation, false, c.name);
      assert.equal(sc.privileged, false, c.name);
      assert.deepEqual(sc.capabilities, { drop: ['ALL'] }, c.name);
      assert.deepEqual(sc.seccompProfile, { type: 'RuntimeDefault' }, c.name);
      const want = { cpu: '250m', memory: '256Mi', 'ephemeral-storage': '2Gi' };
      assert.deepEqual(c.resources!.requests, want, c.name);
      assert.deepEqual(c.resources!.limits, want, c.name);
    }
  });

  it('bounds every volume and the Job: emptyDir sizes, deadline, no Kubernetes retries, TTL', () => {
    const job = build();
    for (const v of job.spec!.template.spec!.volumes!) assert.ok(v.emptyDir?.sizeLimit, `${v.name} has a sizeLimit`);
    assert.equal(job.spec!.template.spec!.volumes!.find((v) => v.name === 'workspace')!.emptyDir!.sizeLimit, '2Gi');
    assert.equal(job.spec!.activeDeadlineSeconds, Math.ceil(90_500 / 1000) + 60); // 91 + 60
    assert.equal(build(request({ limits: { timeoutMs: 1000, outputMaxBytes: 1024 } })).spec!.activeDeadlineSeconds, 61);
    assert.equal(job.spec!.backoffLimit, 0);
    assert.equal(job.spec!.ttlSecondsAfterFinished, 300);
    assert.equal(job.metadata!.namespace, 'agentrun-tools');
  });

  it('labels Job and pod with run and step, and adds the configured pod labels and annotations', () => {
    const job = build();
    assert.equal(job.metadata!.labels![LABELS.runId], request().runId);
    assert.equal(job.metadata!.labels![LABELS.step], '3');
    assert.equal(job.metadata!.labels![LABELS.managedBy], 'agentrun');
    const pod = job.spec!.template.metadata!;
    assert.equal(pod.labels![LABELS.runId], request().runId);
    assert.equal(pod.labels![LABELS.step], '3');
    assert.equal(pod.labels!.team, 'agents');
    assert.equal(pod.labels!['netpol.example/egress'], 's3-only');
    assert.equal(pod.annotations!['cost.example/center'], 'r&d 42');
    // Configured labels never override the run/step labels the executor selects by.
    const sneaky = build(request(), { ...cfg, podLabels: { [LABELS.runId]: 'other', [LABELS.step]: '0' } });
    assert.equal(sneaky.spec!.template.metadata!.labels![LABELS.runId], request().runId);
    assert.equal(sneaky.spec!.template.metadata!.labels![LABELS.step], '3');
  });

  it('takes labels and annotations from K8S_POD_LABELS / K8S_POD_ANNOTATIONS', () => {
    const c = loadConfig({
      S3_ACCESS_KEY_ID: 'abc', S3_SECRET_ACCESS_KEY: 'secret-secret', DATABASE_URL: 'postgres://x@127.0.0.1/db',
      SANDBOX: 'kubernetes', K8S_POD_LABELS: 'a=1,example.com/b=two', K8S_POD_ANNOTATIONS: 'note=hello world',
    });
    assert.equal(c.sandbox.kind, 'kubernetes');
    if (c.sandbox.kind !== 'kubernetes') return;
    const pod = build(request(), c.sandbox.kubernetes).spec!.template.metadata!;
    assert.equal(pod.labels!.a, '1');
    assert.equal(pod.labels!['example.com/b'], 'two');
    assert.equal(pod.annotations!.note, 'hello world');
  });

  it('gives S3 credentials (from the Secret) to pull and push only; exec gets no AWS_* or S3_* variable', () => {
    const job = build();
    for (const name of ['pull', 'push']) {
      const env = envOf(byName(job, name));
      for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
        const e = env.get(key);
        assert.equal(e?.value, undefined, `${name} ${key} is not inline`);
        assert.deepEqual(e?.valueFrom?.secretKeyRef, { name: 'runner-s3', key }, `${name} ${key}`);
      }
      assert.equal(env.get('S3_BUCKET')?.value, 'ws-bucket');
      assert.equal(env.get('S3_ENDPOINT')?.value, 'http://minio.example:9000');
      assert.equal(env.get('S3_REGION')?.value, 'ch-gva-2');
    }
    const exec = byName(job, 'exec');
    const names = (exec.env ?? []).map((e) => e.name);
    assert.deepEqual(names.filter((n) => n.startsWith('AWS_') || n.startsWith('S3_')), []);
    assert.ok((exec.env ?? []).every((e) => e.valueFrom === undefined), 'exec reads nothing from Secrets');
    assert.ok(names.includes('AGENTRUN_REQUEST'));
    // exec sees the workspace and the exchange, never the snapshot (state); push only reads.
    assert.deepEqual(exec.volumeMounts!.map((m) => m.name).sort(), ['exchange', 'tmp-exec', 'workspace']);
    for (const m of byName(job, 'push').volumeMounts!) if (m.name !== 'tmp-push') assert.equal(m.readOnly, true, m.name);
  });

  it('shares no writable directory of the untrusted exec with push where push reads config (HOME, /tmp)', () => {
    const job = build();
    const exec = byName(job, 'exec');
    const push = byName(job, 'push');
    const writableByExec = new Set(exec.volumeMounts!.filter((m) => !m.readOnly).map((m) => m.name));
    const home = envOf(push).get('HOME')?.value;
    assert.ok(home, 'push has a HOME');
    for (const m of push.volumeMounts!) {
      if (!writableByExec.has(m.name)) continue;
      // Shared with exec: only the data push uploads (workspace) and exec's outcome (exchange), read-only, never HOME.
      assert.ok(['workspace', 'exchange'].includes(m.name), `push mounts ${m.name}, which exec can write`);
      assert.equal(m.readOnly, true);
      assert.ok(!(home === m.mountPath || home.startsWith(`${m.mountPath}/`) || m.mountPath.startsWith(`${home}/`)), `push's HOME ${home} is on ${m.name}`);
    }
    const volumes = job.spec!.template.spec!.volumes!.map((v) => v.name);
    assert.ok(volumes.includes('tmp-exec') && volumes.includes('tmp-push') && !volumes.includes('tmp'));
  });

  it('uses the request\'s image for exec only, and the runner image for pull and push', () => {
    const job = build(request({ image: 'python:3.13-slim' }));
    assert.equal(byName(job, 'exec').image, 'python:3.13-slim');
    assert.equal(byName(job, 'pull').image, cfg.image);
    assert.equal(byName(job, 'push').image, cfg.image);
    assert.equal(byName(build(), 'exec').image, cfg.image);
  });

  it('carries the request in AGENTRUN_REQUEST, and it parses back to the same request', () => {
    for (const req of [
      request(),
      (({ env: _env, ...rest }) => rest)(request({ command: { code: { language: 'python', source: 'print("hi")\nimport os\n' } } })),
      request({ command: { code: { language: 'node', source: 'console.log(`${1+1}`)' } }, image: 'node:24' }),
      request({ command: { browser: browserCommand }, image: 'runner-browser:1' }),
      request({ command: { mcp: { server: 'fs', argv: ['node', 'server.js', '.'], workspace: true, call: { tool: 'read_text_file', args: { path: 'a.txt' } }, timeoutMs: 30_000 } } }),
    ]) {
      const job = build(req);
      for (const c of containers(job)) {
        const text = envOf(c).get('AGENTRUN_REQUEST')?.value;
        assert.deepEqual(parseSandboxRequest(text), req, c.name);
      }
    }
  });
});

describe('sandbox request validation', () => {
  const text = (v: unknown) => JSON.stringify(v);

  it('rejects a missing or non-JSON request with one clear line', () => {
    assert.throws(() => parseSandboxRequest(undefined), /^Error: AGENTRUN_REQUEST is not set$/);
    assert.throws(() => parseSandboxRequest('{not json'), (e: Error) => /^AGENTRUN_REQUEST is not JSON: /.test(e.message) && !e.message.includes('\n'));
  });

  it('names each invalid field', () => {
    const bad = { ...request(), runId: '../x', limits: { timeoutMs: -1, outputMaxBytes: 10 } };
    assert.throws(() => parseSandboxRequest(text(bad)), (e: Error) => {
      assert.match(e.message, /^AGENTRUN_REQUEST is invalid: /);
      assert.match(e.message, /runId: /);
      assert.match(e.message, /limits\.timeoutMs: /);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  });

  it('refuses unknown fields, empty argv, unknown languages, NUL bytes, bad env names, foreign workspaces', () => {
    const cases: [unknown, RegExp][] = [
      [{ ...request(), extra: 1 }, /Unrecognized key/i],
      [{ ...request(), command: { argv: [] } }, /command/],
      [{ ...request(), command: { code: { language: 'ruby', source: 'puts 1' } } }, /command/],
      [{ ...request(), command: { argv: ['echo', 'a\0b'] } }, /NUL/],
      [{ ...request(), env: { 'BAD-NAME': 'x' } }, /env/],
      [{ ...request(), workspacePrefix: 'users/user-1/runs/r/files' }, /workspacePrefix/],
      [{ ...request(), workspacePrefix: 'users/../runs/r/files/' }, /workspacePrefix/],
      [{ ...request(), workspacePrefix: 'users/someone-else/runs/r/files/' }, /workspacePrefix: must be a workspace of the request's user/],
      [{ ...request(), index: 1.5 }, /index/],
      [{ ...request(), command: { browser: { ...browserCommand, chromium: 'chromium' } } }, /command/],
      [{ ...request(), command: { browser: { ...browserCommand, egress: { allowHosts: [] } } } }, /command/],
      [{ ...request(), command: { mcp: { server: 'Bad Name', argv: ['x'], workspace: false, timeoutMs: 1 } } }, /command/],
      [{ ...request(), command: { mcp: { server: 'fs', argv: [], workspace: false, timeoutMs: 1 } } }, /command/],
      [{ ...request(), command: { mcp: { server: 'fs', argv: ['x'], workspace: false, timeoutMs: 1, shell: true } } }, /command/],
    ];
    for (const [value, pattern] of cases) assert.throws(() => parseSandboxRequest(text(value)), pattern, JSON.stringify(value));
  });
});
