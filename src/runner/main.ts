/**
 * The runner entrypoint a tool Job's pod runs, one phase per container:
 *
 *   node src/runner/main.ts pull   (init container, S3 credentials)
 *   node src/runner/main.ts exec   (init container, no credentials)
 *   node src/runner/main.ts push   (main container, S3 credentials)
 *
 * `push` writes the execution's result record to S3, so the worker reads the
 * outcome from there, never from pod logs. Exit 0 means the phase did its
 * part (a command that exits non-zero is still a recorded result); any other
 * exit prints one line saying why.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { s3Keys } from '../shared/names.ts';
import { DEFAULT_FILE_MAX_BYTES } from '../shared/config.ts';
import { execPhase, pullPhase, pushPhase, WORKING_COPY_MAX_BYTES, type ExecuteOptions, type PhaseDirs } from '../sandbox/execute.ts';
import { parseSandboxRequest } from '../sandbox/request.ts';
import { WorkspaceStore } from '../workspace/store.ts';

const PHASES = ['pull', 'exec', 'push'] as const;
type Phase = (typeof PHASES)[number];

/** What every phase reads. The exec container has no S3 settings at all (nor credentials). */
const commonEnv = z.object({
  AGENTRUN_WORKSPACE_DIR: z.string().min(1).default('/agentrun/workspace'),
  AGENTRUN_STATE_DIR: z.string().min(1).default('/agentrun/state'),
  AGENTRUN_EXCHANGE_DIR: z.string().min(1).default('/agentrun/exchange'),
  AGENTRUN_MAX_WORKSPACE_BYTES: z.coerce.number().int().positive().default(WORKING_COPY_MAX_BYTES),
  AGENTRUN_MAX_FILE_BYTES: z.coerce.number().int().positive().default(DEFAULT_FILE_MAX_BYTES),
});
/** What pull and push read besides; credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (a Secret) via the SDK's default chain. */
const s3Env = z.object({
  S3_ENDPOINT: z.url().optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_BUCKET: z.string().min(3),
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('true'),
});

function parseEnv<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.output<T> {
  const r = schema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!r.success) throw new Error(`invalid environment: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

/**
 * S3 requests are tried up to this many times (the SDK's standard backoff: jittered, up to
 * 20 s apart: about a minute on average, two and a half at most). A pod cannot be retried
 * without running its step again, so an S3 outage shorter than that delays the step instead
 * of failing it.
 */
const S3_ATTEMPTS = 15;

function s3From(env: z.output<typeof s3Env>): S3Client {
  return new S3Client({
    endpoint: env.S3_ENDPOINT, region: env.S3_REGION, forcePathStyle: env.S3_FORCE_PATH_STYLE === 'true',
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED', maxAttempts: S3_ATTEMPTS,
  });
}

async function main(arg: string | undefined): Promise<void> {
  if (!PHASES.includes(arg as Phase)) throw new Error(`unknown phase ${JSON.stringify(arg ?? null)}: expected pull, exec or push`);
  const phase = arg as Phase;
  const env = parseEnv(commonEnv, process.env);
  const req = parseSandboxRequest(process.env.AGENTRUN_REQUEST);
  const dirs: PhaseDirs = { workspace: env.AGENTRUN_WORKSPACE_DIR, state: env.AGENTRUN_STATE_DIR, exchange: env.AGENTRUN_EXCHANGE_DIR };
  const opts: ExecuteOptions = {
    maxWorkspaceBytes: env.AGENTRUN_MAX_WORKSPACE_BYTES, maxFileBytes: env.AGENTRUN_MAX_FILE_BYTES,
    envAllowList: ['PATH', 'LANG', 'LC_ALL', 'TZ'],
  };
  if (phase === 'exec') {
    const ac = new AbortController();
    process.once('SIGTERM', () => ac.abort(new Error('SIGTERM')));
    await execPhase(req, dirs, {
      signal: ac.signal,
      onLine: (stream, line) => (stream === 'stdout' ? process.stdout : process.stderr).write(`${line}\n`),
    }, opts);
    return;
  }
  const s3cfg = parseEnv(s3Env, process.env);
  const s3 = s3From(s3cfg);
  const workspace = new WorkspaceStore({ s3, bucket: s3cfg.S3_BUCKET, fileMaxBytes: env.AGENTRUN_MAX_FILE_BYTES });
  try {
    if (phase === 'pull') {
      await pullPhase(workspace, req, dirs, opts);
      return;
    }
    // An execution records its result once; a repeated push finds the record and stops.
    const resultKey = s3Keys.sandboxResult(req.userId, req.runId, req.index);
    if (await workspace.exists(resultKey)) return;
    const result = await pushPhase(workspace, req, dirs, opts);
    // Refused: an earlier push of this execution recorded first; its record stands.
    await workspace.putJson(resultKey, result, { ifAbsent: true });
  } finally {
    s3.destroy();
  }
}

main(process.argv[2]).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`agentrun-runner: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exit(1);
});
