/**
 * The seeds' jobs:* queue as a way into runs (not HTTP): the legacy consumer that starts
 * the runs producers enqueue (./legacy-ingress.ts), and the operators' dead-letter view
 * and retry (./queue-service.ts). Starts go through src/runs; refusals are domain errors
 * (./errors.ts and src/runs/errors.ts) that src/api maps to HTTP.
 */
export { LegacyIngress } from './legacy-ingress.ts';
export type { IngressOutcome, LegacyIngressDeps } from './legacy-ingress.ts';
export { QueueService } from './queue-service.ts';
export type { RetryOutcome } from './queue-service.ts';
