/**
 * Runs one Job pod's containers the way a kubelet would, with podman, from the pod's
 * image (mapped to a local one): init containers in order, then the main container,
 * each with its command, env, user and group, read-only root, no capabilities,
 * no-new-privileges, its memory and CPU limits (cgroupfs), and the pod's emptyDir
 * volumes (one host directory per volume, shared by the containers that mount it).
 *
 * Network: the containers share one network namespace, as a pod's do, that of a
 * "network" container started first with `--network none`. In it, pod-relay.ts
 * listens on the S3 endpoint's port on 127.0.0.1 and forwards to a unix socket this
 * process serves, which connects to the S3 endpoint and nothing else: the tool pods'
 * NetworkPolicy (DNS and S3 only). Nothing else is reachable from the pod: loopback
 * ports of the host's services are refused, every other address is unreachable.
 *
 * Not applied: ephemeral-storage limits and emptyDir sizeLimit (a kubelet evicts on
 * them; podman's overlay storage here has no quota), the seccomp profile beyond
 * podman's default (which is what RuntimeDefault means), DNS (the endpoint is an
 * address here).
 */
import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Container, V1PodSpec } from '@kubernetes/client-node';
import { podman, podmanEnv } from '../podman.ts';
import { ROOT } from '../stack.ts';

/** Every container this module starts is named with this prefix and labelled LABEL=<simulator instance>. */
export const NAME_PREFIX = 'agentrun-podsim-';
export const LABEL = 'agentrun.dev/podsim';
const RELAY = join(ROOT, 'test', 'helpers', 'kube-sim', 'pod-relay.ts');


/** A Kubernetes CPU quantity ("500m", "2") as podman's --cpus. */
export function cpus(q: string): string {
  return q.endsWith('m') ? String(Number(q.slice(0, -1)) / 1000) : String(Number(q));
}

/** A Kubernetes memory quantity ("512Mi", "1Gi", "1G", "1000") in bytes. */
export function bytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) throw new Error(`unsupported quantity ${q}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] ?? ''] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

/** The containers (running or not) of a simulator instance. */
export function containersOf(instance: string): string[] {
  const ps = podman(['ps', '-a', '--filter', `label=${LABEL}=${instance}`, '--format', '{{.Names}}']);
  return ps.stdout.split('\n').filter((n) => n.startsWith(NAME_PREFIX));
}

/** Removes a simulator instance's containers. */
export function removeContainers(instance: string): void {
  const names = containersOf(instance);
  if (names.length) podman(['rm', '-f', '-t', '0', ...names]);
}

export interface PodRun {
  instance: string;
  /** Pod image (as the manifest names it) → local image. */
  images: Record<string, string>;
  name: string;
  spec: V1PodSpec;
  /** Each container's env, Secret refs resolved. */
  envs: Record<string, string>[];
  /** Seconds after which the network container exits by itself. */
  lifetimeS: number;
  signal: AbortSignal;
}

/** Serves a unix socket that forwards every connection to host:port. */
async function hostRelay(path: string, host: string, port: number): Promise<Server> {
  const server = createServer((inbound) => {
    const outbound = connect(port, host);
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
  await chmod(path, 0o777);
  return server;
}

function run(args: string[], name: string, signal: AbortSignal): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('podman', args, { env: podmanEnv(), stdio: ['ignore', 'ignore', 'inherit'] });
    // The container is killed; so is the client, should the container not exist yet (runPod removes it after).
    const kill = () => {
      podman(['rm', '-f', '-t', '0', name]);
      child.kill('SIGKILL');
    };
    signal.addEventListener('abort', kill, { once: true });
    child.once('exit', (code) => {
      signal.removeEventListener('abort', kill);
      resolve(code ?? -1);
    });
  });
}

/** The podman flags for a container's securityContext (over the pod's) and its limits. */
function securityFlags(c: V1Container, spec: V1PodSpec): string[] {
  const sc = c.securityContext ?? {};
  const uid = sc.runAsUser ?? spec.securityContext?.runAsUser;
  const gid = sc.runAsGroup ?? spec.securityContext?.runAsGroup;
  if ((sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot) && (uid === undefined || uid === 0)) throw new Error(`${c.name}: runAsNonRoot without a non-root runAsUser`);
  const flags: string[] = []; // seccomp: podman's default profile is what RuntimeDefault means
  if (uid !== undefined) flags.push('--user', gid === undefined ? String(uid) : `${uid}:${gid}`);
  if (spec.securityContext?.fsGroup !== undefined) flags.push('--group-add', String(spec.securityContext.fsGroup));
  if (sc.readOnlyRootFilesystem) flags.push('--read-only', '--read-only-tmpfs=false');
  if (sc.allowPrivilegeEscalation === false) flags.push('--security-opt', 'no-new-privileges');
  if (sc.privileged) throw new Error(`${c.name}: privileged containers are not simulated`);
  for (const cap of sc.capabilities?.drop ?? []) flags.push('--cap-drop', cap);
  for (const cap of sc.capabilities?.add ?? []) flags.push('--cap-add', cap);
  const limits = c.resources?.limits ?? {};
  if (limits.memory) flags.push('--memory', String(bytes(limits.memory)), '--memory-swap', String(bytes(limits.memory)));
  if (limits.cpu) flags.push('--cpus', cpus(limits.cpu));
  return flags;
}

/** Runs the pod's containers in order; returns their exit codes (stops at the first non-zero one). */
export async function runPod(p: PodRun): Promise<number[]> {
  const scratch = await mkdtemp(join(tmpdir(), NAME_PREFIX));
  const prefix = `${NAME_PREFIX}${p.instance}-${p.name}`;
  const label = ['--label', `${LABEL}=${p.instance}`];
  const servers: Server[] = [];
  try {
    const fsGroup = p.spec.securityContext?.fsGroup;
    const volumes = new Map<string, string>();
    for (const v of p.spec.volumes ?? []) {
      if (!v.emptyDir) throw new Error(`volume ${v.name}: only emptyDir volumes are simulated`);
      const dir = join(scratch, 'volumes', v.name);
      await mkdir(dir, { recursive: true });
      await chmod(dir, 0o777); // a kubelet's emptyDir
      if (fsGroup !== undefined) await chown(dir, 0, fsGroup);
      volumes.set(v.name, dir);
    }
    // The pod's network: S3 (the endpoint its containers are given) through the relay, nothing else.
    const containers = [...(p.spec.initContainers ?? []), ...p.spec.containers];
    const endpoint = p.envs.map((e) => e.S3_ENDPOINT).find((e) => e);
    const net = `${prefix}-net`;
    const netDir = join(scratch, 'net');
    await mkdir(netDir);
    await chmod(netDir, 0o777);
    const netArgs = ['run', '-d', '--rm', '--name', net, ...label, '--pull=never', '--network', 'none', '--read-only', '--read-only-tmpfs=false',
      '--user', '65532:65532', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '-v', `${RELAY}:/podsim/relay.ts:ro`, '-v', `${netDir}:/podsim/net`];
    const first = p.images[containers[0]?.image ?? ''];
    if (!first) throw new Error(`no local image for ${containers[0]?.image}`);
    let entry = ['sleep', String(p.lifetimeS)];
    if (endpoint) {
      const url = new URL(endpoint);
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      if (!['127.0.0.1', 'localhost'].includes(url.hostname)) throw new Error(`S3 endpoint ${endpoint}: the simulator relays loopback endpoints only`);
      servers.push(await hostRelay(join(netDir, 's3.sock'), url.hostname, port));
      entry = ['node', '/podsim/relay.ts', String(port), '/podsim/net/s3.sock', '/podsim/net/ready', String(p.lifetimeS)];
    }
    const started = podman([...netArgs, '--entrypoint', JSON.stringify(entry), first]);
    if (started.status !== 0) throw new Error(`podman run ${net}: ${started.stderr}`);
    const deadline = Date.now() + 60_000;
    while (endpoint && !existsSync(join(netDir, 'ready'))) {
      if (Date.now() > deadline) throw new Error(`${net}: the relay did not start: ${podman(['logs', net]).stderr}`);
      await sleep(50);
    }

    const codes: number[] = [];
    for (const [i, c] of containers.entries()) {
      if (p.signal.aborted) break;
      const image = p.images[c.image ?? ''];
      if (!image) throw new Error(`${c.name}: no local image for ${c.image}`);
      const envFile = join(scratch, `${c.name}.env`);
      const env = Object.entries(p.envs[i] ?? {});
      if (env.some(([k, v]) => /[\n\r]/.test(k + v))) throw new Error(`${c.name}: an env value spans lines`);
      await writeFile(envFile, env.map(([k, v]) => `${k}=${v}`).join('\n'), { mode: 0o600 });
      const mounts = (c.volumeMounts ?? []).flatMap((m) => {
        const dir = volumes.get(m.name);
        if (!dir) throw new Error(`${c.name}: mount of unknown volume ${m.name}`);
        return ['-v', `${dir}:${m.mountPath}${m.readOnly ? ':ro' : ''}`];
      });
      const name = `${prefix}-${c.name}`;
      const command = [...(c.command ?? []), ...(c.args ?? [])];
      const code = await run(['run', '--rm', '--name', name, ...label, '--pull=never', '--network', `container:${net}`, '--env-file', envFile,
        ...securityFlags(c, p.spec), ...mounts, ...(c.workingDir ? ['--workdir', c.workingDir] : []),
        ...(c.command ? ['--entrypoint', JSON.stringify(c.command)] : []), image, ...(c.command ? (c.args ?? []) : command)], name, p.signal);
      codes.push(code);
      if (code !== 0) break;
    }
    return codes;
  } finally {
    const names = [...(p.spec.initContainers ?? []), ...p.spec.containers].map((c) => `${prefix}-${c.name}`);
    podman(['rm', '-f', '-t', '0', '--ignore', `${prefix}-net`, ...(p.signal.aborted ? names : [])]);
    for (const s of servers) s.close();
    await rm(scratch, { recursive: true, force: true });
  }
}
