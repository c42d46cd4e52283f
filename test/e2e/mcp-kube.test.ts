/**
 * MCP stdio connectors on SANDBOX=kubernetes, through the API and a worker on the real
 * control plane (./dev up --kube): the worker lists each server's tools with a Job at its
 * start, and each call is a Job whose runner starts the server (its `image` for the exec
 * container), in the step's workspace copy for a `workspace` server. kwok runs no
 * containers: the pod simulator runs the Jobs' phases with the runner's code here (host
 * mode, the servers from this repository's node_modules), as a kubelet would run them
 * from an image with the servers installed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BatchV1Api, type KubeConfig } from '@kubernetes/client-node';
import { jobSelector } from '../../src/sandbox/kubernetes/manifest.ts';
import { startHostPodSimulator, type PodSimulator } from '../helpers/kube-sim.ts';
import * as runs from '../helpers/runs.ts';
import { connectClients, kubeStackEnv, newUser, startApi, startWorker, stop, uniqueQueue } from '../helpers/stack.ts';
import type { Clients, Proc } from '../helpers/stack.ts';

const NS = 'agentrun-tools';
const MCP_IMAGE = 'localhost/agentrun-runner-mcp:test';
const entry = (pkg: string) => fileURLToPath(new URL(`../../node_modules/@modelcontextprotocol/${pkg}/dist/index.js`, import.meta.url));

describe('MCP stdio connectors on Kubernetes: a Job per listing and per call (pod simulator in host mode)', () => {
  let c: Clients;
  let sim: PodSimulator;
  let admin: KubeConfig;
  let worker: Proc | undefined;
  let api: (Proc & { url: string }) | undefined;

  before(async () => {
    const kenv = kubeStackEnv();
    // The servers are not in the runner image `./dev image` builds: the Jobs' phases run here instead.
    ({ sim, admin } = await startHostPodSimulator(kenv.AGENTRUN_KUBE_ADMIN_KUBECONFIG, NS));
    c = await connectClients();
    const servers = {
      everything: { command: [process.execPath, entry('server-everything'), 'stdio'], env: { GREETING: 'hello from a pod' }, image: MCP_IMAGE },
      // Rooted in its working directory: the step's workspace copy.
      fs: { command: [process.execPath, entry('server-filesystem'), '.'], workspace: true, image: MCP_IMAGE },
    };
    const env = {
      ...kenv, SANDBOX: 'kubernetes', MCP_SERVERS: JSON.stringify(servers), TEMPORAL_TASK_QUEUE: uniqueQueue('k8s-mcp'),
      DEFAULT_USER_ID: await newUser(c, 10_000, 'k8s-mcp'),
    };
    [worker, api] = await Promise.all([startWorker(env), startApi(env)]);
  });
  after(async () => {
    await Promise.all([stop(api), stop(worker)]);
    sim?.stop();
    await c?.close();
  });

  const mcpLogs = (events: { event: string; data: Record<string, unknown> }[]) => events.filter((e) => e.event === 'log' && e.data.stream === 'mcp').map((e) => e.data);

  it('lists each server\'s tools with a Job at the worker\'s start', async () => {
    const listings = await admin.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: NS });
    const names = listings.items.map((j) => j.metadata?.labels?.['agentrun.dev/run-id'] ?? '').filter((id) => id.startsWith('mcplist-'));
    assert.ok(names.some((n) => n.startsWith('mcplist-everything-')) && names.some((n) => n.startsWith('mcplist-fs-')), JSON.stringify(names));
  });

  it('a call is a Job of the server\'s image; the server sees its own variables, none of the worker\'s secrets', async () => {
    const { id, events, view } = await runs.runToEnd(api!.url, 'mcp everything.echo {"message": "from a Job"}\nmcp everything.get-env', 120_000);
    assert.equal(view.status, 'completed', JSON.stringify(view.error));
    const [echo, env] = mcpLogs(events);
    assert.equal(echo!.text, 'Echo: from a Job');
    assert.match(String(env!.text), /hello from a pod/);
    for (const secret of [process.env.S3_SECRET_ACCESS_KEY, process.env.SUPABASE_SERVICE_ROLE_KEY, process.env.DATABASE_URL]) {
      if (secret) assert.ok(!String(env!.text).includes(secret), 'a worker secret reached the MCP server');
    }
    const jobs = await admin.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: NS, labelSelector: jobSelector(id) });
    assert.equal(jobs.items.length, 2);
    for (const job of jobs.items) assert.equal(job.spec!.template.spec!.containers.concat(job.spec!.template.spec!.initContainers ?? []).find((ct) => ct.name === 'exec')?.image, MCP_IMAGE);
  });

  it('a workspace server reads what an earlier step wrote and writes what a later step reads', async () => {
    const { events, view } = await runs.runToEnd(api!.url, [
      'write_file notes.txt written before the Job',
      'mcp fs.read_text_file {"path": "notes.txt"}',
      'mcp fs.write_file {"path": "from-the-pod.txt", "content": "written in a Job"}',
      'read_file from-the-pod.txt',
    ].join('\n'), 120_000);
    assert.equal(view.status, 'completed', JSON.stringify(view.error));
    const logs = mcpLogs(events);
    assert.equal(logs[0]!.text, 'written before the Job');
    assert.equal(logs[1]!.changedFiles, 1);
    assert.ok(events.some((e) => e.event === 'log' && e.data.stream === 'file' && e.data.text === 'written in a Job'));
  });

  it('a tool the server does not offer fails the run for good, with the reason', async () => {
    const { view } = await runs.runToEnd(api!.url, 'mcp everything.no-such-tool {}', 120_000);
    assert.equal(view.status, 'failed');
    assert.match(view.error?.message ?? '', /mcp:everything\.no-such-tool: MCP server everything: tools\/call no-such-tool refused: the server offers no such tool/);
  });
});
