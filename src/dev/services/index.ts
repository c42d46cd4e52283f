/**
 * The services of the local stack, in start order (stopped in reverse): each one
 * module behind the Service interface (service.ts).
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

export const SERVICES: readonly Service[] = [
  temporal,
  redis,
  postgres,
  postgrest, // after postgres: starting it prepares the database
  gateway,
  minio,
  kubernetes, // after MinIO: the cluster setup writes the runner's S3 Secret
];
