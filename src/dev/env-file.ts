/**
 * The environment that points the worker, the API and the tests at the local
 * stack (`./dev env` prints it; the test cluster's kubeconfigs only while it runs), and the env file <data>/stack/env that `./dev up`
 * writes with it (mode 0600: it holds the stack's secrets).
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { DATABASE, HOST, type StackContext } from './context.ts';
import { mintJwt } from './jwt.ts';
import { secrets } from './secrets.ts';
import { KUBE } from './services/index.ts';
import { kubeconfigPath } from './services/kube/layout.ts';
import { adminUrl } from './services/postgres.ts';
import { redisUrl } from './services/redis.ts';
import { temporalBin, temporalTestServerBin } from './services/temporal.ts';

/** What a user new to the local stack's API is granted (NEW_USER_CREDITS). */
export const LOCAL_NEW_USER_CREDITS = 1000;

export async function stackEnv(ctx: StackContext): Promise<Record<string, string>> {
  const s = secrets(ctx);
  const { ports } = ctx;
  return {
    TEMPORAL_ADDRESS: `${HOST}:${ports.temporal}`,
    TEMPORAL_UI_URL: `http://${HOST}:${ports.temporalUi}`,
    TEMPORAL_CLI: temporalBin(ctx),
    TEMPORAL_TEST_SERVER: temporalTestServerBin(ctx),
    // The API and worker connect as the ACL user; the admin URL is for the stack manager and tests.
    REDIS_URL: redisUrl(ctx, 'agentrun'),
    AGENTRUN_REDIS_ADMIN_URL: redisUrl(ctx, 'admin'),
    INGRESS_SIGNING_SECRET: s.ingressSigningSecret,
    STORE: 'postgres',
    DATABASE_URL: adminUrl(ctx, DATABASE),
    SUPABASE_URL: `http://${HOST}:${ports.gateway}`,
    SUPABASE_SERVICE_ROLE_KEY: await mintJwt(s.jwtSecret, { role: 'service_role' }),
    SUPABASE_JWT_SECRET: s.jwtSecret,
    S3_ENDPOINT: `http://${HOST}:${ports.minio}`,
    S3_BUCKET: ctx.bucket,
    S3_REGION: 'us-east-1',
    S3_FORCE_PATH_STYLE: 'true',
    S3_ACCESS_KEY_ID: s.minioUser,
    S3_SECRET_ACCESS_KEY: s.minioPassword,
    // Any user the local API sees first (a JWT of a new `sub`) can run at once.
    NEW_USER_CREDITS: String(LOCAL_NEW_USER_CREDITS),
    // Only while the test cluster runs (./dev up --kube, ./dev test): the worker's RBAC-limited
    // identity, which SANDBOX=kubernetes uses, and the admin's, for the tests.
    ...((await KUBE.healthy(ctx).catch(() => false)) ? {
      K8S_KUBECONFIG: kubeconfigPath(ctx.paths, 'worker'),
      AGENTRUN_KUBE_ADMIN_KUBECONFIG: kubeconfigPath(ctx.paths, 'admin'),
    } : {}),
  };
}

export async function writeEnvFile(ctx: StackContext): Promise<void> {
  const file = ctx.paths.envFile;
  const lines = Object.entries(await stackEnv(ctx)).map(([k, v]) => `${k}=${v}`);
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}
