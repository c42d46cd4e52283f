/**
 * src/sandbox — runs shell and code steps: a command (or code) against a working copy
 * of a run's workspace, as a jailed or plain child process (./local.ts, ./execute.ts,
 * ./process.ts) or as a Kubernetes Job whose runner does the same (./kubernetes/).
 * It throws its own errors (./errors.ts) and reaches S3 only through the workspace
 * store it is given (`SandboxWorkspace`); it imports only shared and infra.
 *
 * This file builds the configured executor, and checks at start-up that it can do its job
 * (SANDBOX=kubernetes: ./kubernetes/create.ts, imported only then), including that every
 * stdio MCP connector lists its tools (./mcp.ts).
 */
import type { Logger } from 'pino';
import { PreflightError } from '../infra/preflight.ts';
import type { Config } from '../shared/config.ts';
import { Jail, JailUnavailableError } from './jail.ts';
import { WORKING_COPY_MAX_BYTES } from './execute.ts';
import { LocalExecutor } from './local.ts';
import type { Executor, SandboxWorkspace } from './types.ts';

/**
 * The executor SANDBOX names, after checking it can work here: bubblewrap builds a
 * jail (local), or the Kubernetes API lets this worker manage Jobs (kubernetes).
 * Throws a PreflightError whose message is the one line to print.
 */
export async function createExecutor(config: Pick<Config, 'sandbox' | 'tools'>, workspace: SandboxWorkspace, log: Logger): Promise<Executor> {
  const exec = await createStepExecutor(config, workspace, log);
  const servers = config.tools.mcp.servers;
  if (Object.keys(servers).length === 0) return exec;
  const jail = exec instanceof LocalExecutor ? exec.jail : undefined;
  const posture = exec.kind === 'kubernetes' ? 'kubernetes' : jail ? 'jailed' : 'host';
  // On Kubernetes, stdio servers run in Jobs (loaded only then, as the executor is).
  const pods = exec.kind === 'kubernetes' && config.sandbox.kind === 'kubernetes'
    ? new (await import('./kubernetes/mcp.ts')).PodMcpRunner(exec, config.sandbox.kubernetes.image) : undefined;
  // Loaded only with MCP_SERVERS set: the MCP SDK is not every worker's cost.
  const { McpHost } = await import('./mcp.ts');
  const mcp = new McpHost({ servers, jail, posture, workspace, log: log.child({ component: 'mcp' }), pods });
  try {
    await mcp.discover();
  } catch (err) {
    await exec.close?.();
    throw new PreflightError((err as Error).message, { cause: err });
  }
  exec.mcp = mcp;
  return exec;
}

async function createStepExecutor(config: Pick<Config, 'sandbox' | 'tools'>, workspace: SandboxWorkspace, log: Logger): Promise<Executor> {
  const sb = config.sandbox;
  // Files above the workspace's WORKSPACE_FILE_MAX_BYTES are not saved back, as the file tools refuse them.
  const limits = { maxWorkspaceBytes: WORKING_COPY_MAX_BYTES, maxFileBytes: workspace.fileMaxBytes };
  if (sb.kind === 'local') {
    let jail: Jail;
    try {
      jail = await Jail.open(sb.local);
    } catch (err) {
      if (!(err instanceof JailUnavailableError)) throw err;
      throw new PreflightError(`SANDBOX=local cannot isolate steps on this machine: ${err.message} (install bubblewrap and allow user namespaces — check with: unshare --user --map-root-user --pid --fork --net true — or set SANDBOX=unsafe-host to run steps as plain child processes that can read this worker's secrets)`, { cause: err });
    }
    return new LocalExecutor(workspace, limits, jail, config.tools.browser.path);
  }
  if (sb.kind === 'unsafe-host') {
    log.warn({ sandbox: 'unsafe-host' }, 'SANDBOX=unsafe-host: shell and code steps run as plain child processes of this worker, with its user, files, network and loopback services; a step can read this worker\'s secrets. Use only on a machine without user namespaces, for trusted prompts');
    return new LocalExecutor(workspace, limits, undefined, config.tools.browser.path);
  }
  // Loaded only here: the Kubernetes client takes seconds to import, which every other worker would pay at start.
  const { createKubernetesExecutor } = await import('./kubernetes/create.ts');
  return createKubernetesExecutor({ workspace, cfg: sb.kubernetes, log, ...limits });
}
