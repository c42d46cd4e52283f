/**
 * Run operations the HTTP routes call: start an AgentRun, read its state.
 * Workflow id = run id, so a duplicate start can never create a second run.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import { newRunId } from './ids.ts';
import { notFound, UnavailableError } from './errors.ts';
import { isRunId, s3Keys, WORKFLOW_TYPE } from '../shared/names.ts';
import type { RunInput, RunLimits, RunState, RunStatus } from '../shared/run.ts';
import type { Store } from '../store/types.ts';
import { searchAttributes, statusQuery } from '../workflows/definitions.ts';

export interface RunsServiceDeps {
  temporal: Client;
  store: Store;
  s3: S3Client;
  bucket: string;
  taskQueue: string;
  creditReservation: number;
  provider: RunInput['provider'];
  limits: RunLimits;
  log: Logger;
}

/** Prompts above this size go to the workspace instead of workflow history. */
export const INLINE_PROMPT_MAX_BYTES = 8192;
export const DEFAULT_PRIORITY = 3;

export interface StartRequest {
  prompt: string;
  requireApproval?: boolean;
  /** 1 (first) … 5 (last); default 3. */
  priority?: number;
  /** Credits to reserve instead of the default. */
  budget?: number;
}

export interface RunView {
  id: string;
  userId: string;
  status: RunStatus;
  plan?: RunState['plan'];
  steps: RunState['steps'];
  currentStep?: number;
  error?: RunState['error'];
  usage: { credits: number };
  createdAt?: string;
  closedAt?: string;
}

const CLOSED_STATUS: Record<string, RunStatus | undefined> = {
  COMPLETED: 'completed', FAILED: 'failed', CANCELLED: 'cancelled', TERMINATED: 'failed', TIMED_OUT: 'failed',
};

function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: number }).code;
  return code === 14 || code === 4; // UNAVAILABLE, DEADLINE_EXCEEDED
}

export class RunsService {
  private readonly deps: RunsServiceDeps;
  constructor(deps: RunsServiceDeps) {
    this.deps = deps;
  }

  async start(userId: string, req: StartRequest): Promise<{ id: string; status: RunStatus }> {
    const id = newRunId();
    const { prompt } = req;
    const priority = req.priority ?? DEFAULT_PRIORITY;
    const input: RunInput = {
      runId: id, userId, prompt, creditReservation: req.budget ?? this.deps.creditReservation, provider: this.deps.provider,
      requireApproval: req.requireApproval ?? false, priority, limits: this.deps.limits,
    };
    // Large prompts live in the run's workspace; history carries a reference and a preview.
    if (Buffer.byteLength(prompt) > INLINE_PROMPT_MAX_BYTES) {
      const key = `${s3Keys.runPrefix(userId, id)}.agentrun/prompt.txt`;
      try {
        await this.deps.s3.send(new PutObjectCommand({ Bucket: this.deps.bucket, Key: key, Body: prompt, ContentType: 'text/plain; charset=utf-8' }));
      } catch (err) {
        throw new UnavailableError('the workspace store (S3)', err);
      }
      input.prompt = prompt.slice(0, 500);
      input.promptRef = key;
    }
    // The record first: a run that exists in Temporal always has one.
    try {
      await this.deps.store.createRun({ id, userId, prompt, priority, status: 'queued' });
    } catch (err) {
      throw new UnavailableError('the database', err);
    }
    try {
      await this.deps.temporal.workflow.start(WORKFLOW_TYPE, {
        workflowId: id,
        taskQueue: this.deps.taskQueue,
        args: [input],
        typedSearchAttributes: [
          { key: searchAttributes.agentStatus, value: 'queued' },
          { key: searchAttributes.userId, value: userId },
          { key: searchAttributes.priority, value: priority },
        ],
        // Priority orders tasks; the user as fairness key keeps one user's flood from starving others.
        priority: { priorityKey: priority, fairnessKey: userId },
      });
    } catch (err) {
      await this.deps.store.updateRun(id, 'failed', { error: { code: 'start_failed', message: (err as Error).message } })
        .catch((e: unknown) => this.deps.log.error({ err: e, id }, 'could not mark an unstarted run failed'));
      if (isUnavailable(err)) throw new UnavailableError('Temporal', err);
      throw err;
    }
    return { id, status: 'queued' };
  }

  /** Describes the run's workflow; 404 when there is none. */
  async describe(id: string): Promise<WorkflowExecutionDescription> {
    if (!isRunId(id)) throw notFound(`run ${id}`);
    try {
      const d = await this.deps.temporal.workflow.getHandle(id).describe();
      if (d.type !== WORKFLOW_TYPE) throw notFound(`run ${id}`);
      return d;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound(`run ${id}`);
      if (isUnavailable(err)) throw new UnavailableError('Temporal', err);
      throw err;
    }
  }

  async get(id: string): Promise<RunView> {
    const d = await this.describe(id);
    const base = {
      id, createdAt: d.startTime.toISOString(), closedAt: d.closeTime?.toISOString(),
      userId: d.typedSearchAttributes.get(searchAttributes.userId) ?? 'unknown',
    };
    // The record adds usage; without the database the run is still reported from Temporal.
    const record = await this.deps.store.getRun(id).catch((err: unknown) => {
      this.deps.log.warn({ err: (err as Error).message, id }, 'run record unavailable');
      return undefined;
    });
    const usage = { credits: Number(record?.credits_charged ?? 0) };
    try {
      const s = await this.deps.temporal.workflow.getHandle(id).query(statusQuery);
      return { ...base, status: s.status, plan: s.plan, steps: s.steps, currentStep: s.currentStep, error: s.error, usage };
    } catch (err) {
      // No worker to answer (or the run never got one): report what the server and the record know.
      this.deps.log.debug({ err, id }, 'status query failed; falling back to describe');
      const status = CLOSED_STATUS[d.status.name] ?? record?.status
        ?? (d.typedSearchAttributes.get(searchAttributes.agentStatus) as RunStatus | undefined) ?? 'queued';
      return { ...base, status, steps: [], plan: record?.plan as RunState['plan'], error: (record?.error ?? undefined) as RunState['error'], usage };
    }
  }

  /** True once the run's workflow has closed (completed, failed, cancelled, terminated). */
  async isClosed(id: string): Promise<{ closed: boolean; status?: RunStatus }> {
    const d = await this.describe(id);
    const status = CLOSED_STATUS[d.status.name];
    return { closed: status !== undefined, status };
  }
}
