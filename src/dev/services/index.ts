/**
 * The services of the local stack, in start order (stopped in reverse): each one
 * module behind the Service interface (service.ts). The test Kubernetes cluster is
 * apart: built and started only when asked for (stack.ts `wantsKube`).
 */
import { gateway } from './gateway.ts';
import { kubernetes } from './kube/index.ts';
import { minio } from './minio.ts';
import { postgres } from './postgres.ts';
import { postgrest } from './postgrest.ts';
import { redis } from './redis.ts';
import type { Service } from './service.ts';
import { temporal } from './temporal.ts';

export type { Service } from './service.ts';
export { kubeStarted } from './kube/index.ts';

/** What `./dev up` and `./dev demo` start. */
export const SERVICES: readonly Service[] = [
  temporal,
  redis,
  postgres,
  postgrest, // after postgres: starting it prepares the database
  gateway,
  minio,
];

/**
 * The test Kubernetes cluster (its control plane is built from Go modules: minutes, cold),
 * for `./dev test`, `./dev up --kube` and SANDBOX=kubernetes. Started after MinIO: its
 * setup writes the runner's S3 Secret.
 */
export const KUBE: Service = kubernetes;

/** The services of a stack with or without the cluster, in start order. */
export const servicesOf = (kube: boolean): readonly Service[] => (kube ? [...SERVICES, KUBE] : SERVICES);
