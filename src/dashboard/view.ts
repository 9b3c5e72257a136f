/**
 * What the dashboard page receives: small JSON views of the rows, and the two
 * kinds of server-sent event built from them — `snapshot` (everything the
 * page shows, once per connection) and `patch` (only the rows a change batch
 * named, re-read). Pure functions of rows: no database here, so the server
 * and the tests share them.
 *
 * A view carries what the page shows and nothing else: no encoded
 * `pipelineConfig`, no lease owners of the controller (a hostname), and the
 * JSON configurations only as stored (secrets already redacted by the
 * repositories on insert).
 */
import type { ActorTask, ActorTaskStatus, Experiment, IcOperation, Pipeline } from "../schema";

/** An experiment, as the picker and the header show it. */
export interface ExperimentView {
  experimentId: number;
  experimentName: string;
  status: string;
  numShards: number;
  numActors: number;
  error: string | null;
  createdAt: string;
  updatedAt: string | null;
}

/** A pipeline row of the page: progress, status, and its flattened config (sent when it changed). */
export interface PipelineView {
  pipelineId: number;
  pipelineName: string | null;
  pipelineType: string;
  status: string;
  currentShardId: number;
  shardsCompleted: number;
  totalSamplesProcessed: number;
  error: string | null;
  parentPipelineId: number | null;
  source: string | null;
  configHash: string | null;
  /** Omitted in a patch when the config is the one the page already has (same `configHash`). */
  flattenedConfig?: Record<string, unknown> | null;
  updatedAt: string | null;
}

/** A running task: which actor holds it and until when. */
export interface TaskView {
  taskId: number;
  pipelineId: number;
  shardId: number;
  actorId: number;
  status: string;
  attempts: number;
  startedAt: string | null;
  leaseOwner: number | null;
  leaseExpiresAt: string | null;
}

/** An IC operation, pending or recent. */
export interface OperationView {
  icId: number;
  operation: string;
  pipelineId: number | null;
  status: string;
  error: string | null;
  createdAt: string;
  processedAt: string | null;
  /** For a clone: the child's name and the config it merges into the parent's. */
  request: unknown;
}

/** The first event of a connection: everything the page shows. */
export interface SnapshotEvent {
  /** Safe to show: the database URL without credentials or query. */
  database: string;
  /** The server's clock (ISO), so the page shows lease expiry relative to the database host, not the browser. */
  now: string;
  /** Recent experiments, newest first, for the picker. */
  experiments: ExperimentView[];
  /** The experiment shown, or null when the database has none yet. */
  experiment: ExperimentView | null;
  /** Whether the page asked for this experiment (else it follows the running-or-latest one). */
  pinned: boolean;
  pipelines: PipelineView[];
  taskCounts: Record<ActorTaskStatus, number> | null;
  runningTasks: TaskView[];
  operations: OperationView[];
}

/** What changed since the last event; every list holds only rows that changed. */
export interface PatchEvent {
  now: string;
  experiments: ExperimentView[];
  pipelines: PipelineView[];
  /** Running tasks that started or were re-claimed (upsert) … */
  runningTasks: TaskView[];
  /** … and tasks that are no longer running (remove). */
  finishedTasks: number[];
  taskCounts: Record<ActorTaskStatus, number> | null;
  operations: OperationView[];
}

const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

export function experimentView(e: Experiment): ExperimentView {
  return {
    experimentId: e.experimentId,
    experimentName: e.experimentName,
    status: e.status,
    numShards: e.numShards,
    numActors: e.numActors,
    error: e.error,
    createdAt: e.createdAt.toISOString(),
    updatedAt: iso(e.updatedAt),
  };
}

/** A pipeline's view; `withConfig` false leaves the flattened config out (the page keeps the one it has). */
export function pipelineView(p: Pipeline, withConfig = true): PipelineView {
  const view: PipelineView = {
    pipelineId: p.pipelineId,
    pipelineName: p.pipelineName,
    pipelineType: p.pipelineType,
    status: p.status,
    currentShardId: p.currentShardId,
    shardsCompleted: p.shardsCompleted,
    totalSamplesProcessed: p.totalSamplesProcessed,
    error: p.error,
    parentPipelineId: p.parentPipelineId,
    source: p.source,
    configHash: p.configHash,
    updatedAt: iso(p.updatedAt),
  };
  if (withConfig) view.flattenedConfig = (p.flattenedConfig as Record<string, unknown> | null) ?? null;
  return view;
}

export function taskView(t: ActorTask): TaskView {
  return {
    taskId: t.taskId,
    pipelineId: t.pipelineId,
    shardId: t.shardId,
    actorId: t.actorId,
    status: t.status,
    attempts: t.attempts,
    startedAt: iso(t.startedAt),
    leaseOwner: t.leaseOwner,
    leaseExpiresAt: iso(t.leaseExpiresAt),
  };
}

export function operationView(o: IcOperation): OperationView {
  const data = o.requestData as { pipelineName?: unknown; config?: unknown } | null;
  return {
    icId: o.icId,
    operation: o.operation,
    pipelineId: o.pipelineId,
    status: o.status,
    error: o.error,
    createdAt: o.createdAt.toISOString(),
    processedAt: iso(o.processedAt),
    request: o.operation === "clone" && data ? { pipelineName: data.pipelineName ?? null, config: data.config } : null,
  };
}
