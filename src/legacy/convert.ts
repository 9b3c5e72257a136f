/**
 * The Python module's rows → this package's rows (pure: no I/O).
 *
 * - Pipelines had no experiment: each goes to the experiment created most
 *   recently at or before it (`created_at`, second resolution; on a tie the
 *   experiment with the higher id); tasks and IC operations follow their pipeline.
 * - Statuses: see `CONTEXT_STATUS_MAP` (the only set that differs); the other
 *   entities keep theirs. An unknown status is a `bad-row` error.
 * - Times: see time.ts. Payloads: `pipeline_config` (the module's encoded
 *   payload) is kept as the exact string; JSON columns are parsed (a value
 *   that is not JSON is kept as that string); empty error texts become null.
 * - Ids: legacy id + the target's offset for that table (0 on a new database,
 *   so ids are kept), contexts whose hash the target already has are reused.
 * - In-flight work (`in_progress` tasks, `processing` IC operations) gets an
 *   already-expired lease: the process that held it is gone, so `reapStale`
 *   and `claimNext` hand it out again.
 */
import type { NewActorTask, NewContext, NewExperiment, NewIcOperation, NewPipeline } from "../schema";
import type { LegacySource, LegacyTable } from "./read";
import { RowReader } from "./rows";
import type { NaiveTimes } from "./time";

/** The package tables the import writes, by their result names. */
export type Entity = "experiments" | "contexts" | "pipelines" | "actorTasks" | "icOperations";
export type Counts = Record<Entity, number>;

/** Python context status → this package's (`ongoing` depends on whether it was ever used, see below). */
export const CONTEXT_STATUS_MAP = {
  new: "pending",
  ongoing: "ready", // "building" when it has no end time and none of its pipelines completed a shard
  deleted: "failed", // its resources were released; the package has no "deleted" context, and a failed one may be built again
  failed: "failed",
} as const;

const SAME = {
  experiments: ["running", "completed", "failed", "cancelled"],
  pipelines: ["new", "ongoing", "completed", "stopped", "deleted", "failed"],
  actor_tasks: ["scheduled", "in_progress", "completed", "failed"],
  interactive_control: ["pending", "processing", "completed", "failed", "cancelled"],
} as const;
const IC_OPS = ["stop", "resume", "delete", "clone"] as const;

export interface ConvertOptions {
  naiveTimes: NaiveTimes;
  /** Added to each legacy id (the target's largest id ever used in that table). */
  offsets: Counts;
  /** Context hash → id, for contexts the target already has. */
  existingContexts: ReadonlyMap<string, number>;
}

export interface Converted {
  experiments: NewExperiment[];
  contexts: NewContext[];
  pipelines: NewPipeline[];
  actorTasks: NewActorTask[];
  icOperations: NewIcOperation[];
  /** Rows left out or changed, in words (orphans, duplicate run ids …); at most 20, then a count. */
  warnings: string[];
}

/** @example const rows = convertLegacy(readLegacy(path), { naiveTimes: "local", offsets, existingContexts: new Map() }); */
export function convertLegacy(source: LegacySource, o: ConvertOptions): Converted {
  const reader = (table: LegacyTable) => new RowReader(source.path, table, o.naiveTimes);
  const warnings: string[] = [];
  const warn = (w: string) => warnings.push(w);
  const out: Converted = { experiments: [], contexts: [], pipelines: [], actorTasks: [], icOperations: [], warnings };

  // Experiments, and the timeline pipelines are attributed on.
  const timeline: { at: number; id: number }[] = [];
  const re = reader("experiments");
  for (const row of source.rows.experiments) {
    const t = re.at(row);
    const id = t.id + o.offsets.experiments;
    const createdAt = t.time("created_at");
    timeline.push({ at: createdAt ?? Number.NEGATIVE_INFINITY, id });
    out.experiments.push({
      experimentId: id,
      experimentName: t.required(t.text("experiment_name"), "experiment_name"),
      metricExperimentId: t.text("metric_experiment_id") ?? t.text("mlflow_experiment_id"),
      numShards: t.int("num_shards") ?? 0,
      numActors: t.required(t.int("num_actors"), "num_actors"),
      numCpus: t.int("num_cpus"),
      numGpus: t.int("num_gpus"),
      numCpusPerActor: t.real("num_cpus_per_actor"),
      numGpusPerActor: t.real("num_gpus_per_actor"),
      experimentMode: t.text("experiment_mode") ?? "evals",
      status: t.status(SAME.experiments),
      error: t.text("error") || null,
      ...dates(createdAt, createdAt),
    });
  }
  timeline.sort((a, b) => a.at - b.at || a.id - b.id);
  const experimentAt = (at: number | null, what: string): number | undefined => {
    // The last experiment created at or before `at` (binary search on the sorted timeline).
    let lo = 0;
    let hi = timeline.length;
    while (at !== null && lo < hi) {
      const mid = (lo + hi) >> 1;
      if (timeline[mid]!.at <= at) lo = mid + 1;
      else hi = mid;
    }
    let found = at !== null && lo > 0 ? timeline[lo - 1]!.id : undefined;
    if (found === undefined && timeline.length > 0) {
      warn(`${what} is older than every experiment: given to the first one`);
      found = timeline[0]!.id;
    }
    return found;
  };

  // Pipelines (contexts need to know which of theirs made progress first).
  const pipelineOf = new Map<
    number,
    { id: number; experimentId: number; createdAt: number | null; deleted: boolean }
  >();
  const usedContexts = new Set<number>();
  const firstUse = new Map<number, number>(); // legacy context id → its first pipeline's created_at
  const runIds = new Set<string>();
  const rp = reader("pipelines");
  for (const row of source.rows.pipelines) {
    const t = rp.at(row);
    const createdAt = t.time("created_at");
    const experimentId = experimentAt(createdAt, `pipeline ${t.id}`);
    if (experimentId === undefined) {
      throw t.bad("there is no experiment to attribute it to (the database has no experiments)");
    }
    const id = t.id + o.offsets.pipelines;
    const shards = t.int("shards_completed") ?? 0;
    const legacyContext = t.int("context_id");
    if (legacyContext !== null && shards > 0) usedContexts.add(legacyContext);
    if (legacyContext !== null && createdAt !== null) {
      firstUse.set(legacyContext, Math.min(firstUse.get(legacyContext) ?? createdAt, createdAt));
    }
    let metricRunId = t.text("metric_run_id");
    if (metricRunId !== null && runIds.has(metricRunId)) {
      warn(`pipeline ${t.id}: metric_run_id ${JSON.stringify(metricRunId)} repeats an earlier pipeline's: not kept`);
      metricRunId = null;
    } else if (metricRunId !== null) runIds.add(metricRunId);
    const status = t.status(SAME.pipelines);
    pipelineOf.set(t.id, { id, experimentId, createdAt, deleted: status === "deleted" });
    out.pipelines.push({
      pipelineId: id,
      experimentId,
      contextId: legacyContext, // mapped below, once contexts are known
      pipelineName: t.text("pipeline_name"),
      pipelineType: t.required(t.text("pipeline_type"), "pipeline_type"),
      modelConfig: t.payload("model_config_json"),
      samplingParams: t.payload("sampling_params_json"),
      pipelineConfig: t.text("pipeline_config"),
      configJson: t.payload("pipeline_config_json"),
      flattenedConfig: t.payload("flattened_config"),
      metricRunId,
      source: "import",
      status,
      // 6dd53c1 inserts '' here until the first progress update.
      currentShardId: t.int("current_shard_id", true) ?? 0,
      shardsCompleted: shards,
      totalSamplesProcessed: t.int("total_samples_processed") ?? 0,
      error: t.text("error") || null,
      ...dates(createdAt, createdAt),
    });
  }

  // Contexts: reused by hash when the target has them.
  const contextId = new Map<number, number>();
  const rc = reader("contexts");
  for (const row of source.rows.contexts) {
    const t = rc.at(row);
    const hash = t.required(t.text("context_hash"), "context_hash");
    const existing = o.existingContexts.get(hash);
    if (existing !== undefined) {
      contextId.set(t.id, existing);
      warn(`context ${t.id}: the target already has hash ${JSON.stringify(hash)} (context ${existing}): reused`);
      continue;
    }
    const id = t.id + o.offsets.contexts;
    contextId.set(t.id, id);
    const startedAt = t.time("started_at");
    const completedAt = t.time("completed_at");
    const legacyStatus = t.status(Object.keys(CONTEXT_STATUS_MAP));
    const error = t.text("error") || null;
    let status: NewContext["status"] = CONTEXT_STATUS_MAP[legacyStatus as keyof typeof CONTEXT_STATUS_MAP];
    if (legacyStatus === "ongoing" && completedAt === null && !usedContexts.has(t.id)) status = "building";
    out.contexts.push({
      contextId: id,
      contextHash: hash,
      ragConfig: t.payload("rag_config_json"),
      promptConfig: t.payload("prompt_config_json"),
      status,
      startedAt: date(startedAt),
      completedAt: date(completedAt),
      durationSeconds: t.duration(),
      error: legacyStatus === "deleted" && !error ? "deleted by RapidFire's Python module" : error,
      // The module kept no creation time for contexts: their build start, else their first pipeline's.
      ...dates(startedAt ?? firstUse.get(t.id) ?? null, Math.max(startedAt ?? 0, completedAt ?? 0) || null),
    });
  }
  for (const p of out.pipelines) {
    if (p.contextId === null || p.contextId === undefined) continue;
    const mapped = contextId.get(p.contextId);
    if (mapped === undefined) warn(`pipeline ${p.pipelineId}: context ${p.contextId} does not exist: left without one`);
    p.contextId = mapped ?? null;
  }

  const rt = reader("actor_tasks");
  for (const row of source.rows.actor_tasks) {
    const t = rt.at(row);
    const pipeline = pipelineOf.get(t.required(t.int("pipeline_id"), "pipeline_id"));
    if (!pipeline) {
      warn(`task ${t.id}: its pipeline does not exist: not imported`);
      continue;
    }
    const status = t.status(SAME.actor_tasks);
    const startedAt = t.time("started_at");
    const completedAt = t.time("completed_at");
    const actorId = t.required(t.int("actor_id"), "actor_id");
    const createdAt = startedAt ?? pipeline.createdAt;
    out.actorTasks.push({
      taskId: t.id + o.offsets.actorTasks,
      experimentId: pipeline.experimentId,
      pipelineId: pipeline.id,
      actorId,
      shardId: t.required(t.int("shard_id"), "shard_id"),
      status,
      errorMessage: t.text("error_message") || null,
      startedAt: date(startedAt),
      completedAt: date(completedAt),
      durationSeconds: t.duration(),
      attempts: status === "scheduled" ? 0 : 1,
      ...(status === "in_progress" ? { leaseOwner: actorId, leaseExpiresAt: date(createdAt) ?? new Date(0) } : {}),
      ...dates(createdAt, Math.max(createdAt ?? 0, completedAt ?? 0) || null),
    });
  }

  const ri = reader("interactive_control");
  for (const row of source.rows.interactive_control) {
    const t = ri.at(row);
    const operation = t.status(IC_OPS, "operation");
    let status = t.status(SAME.interactive_control);
    const createdAt = t.required(t.time("created_at"), "created_at");
    const processedAt = t.time("processed_at");
    const requestData = t.payload("request_data");
    const legacyPipeline = t.int("pipeline_id");
    const pipeline = legacyPipeline === null ? undefined : pipelineOf.get(legacyPipeline);
    if (legacyPipeline !== null && !pipeline) {
      warn(`IC operation ${t.id}: its pipeline does not exist: not imported`);
      continue;
    }
    if (operation !== "clone" && !pipeline) {
      warn(`IC operation ${t.id}: a ${operation} without a pipeline: not imported`);
      continue;
    }
    let error = t.text("error") || null;
    if (pipeline?.deleted && (status === "pending" || status === "processing")) {
      // The database accepts no live operation on a deleted pipeline (nor would the scheduler run it).
      warn(`IC operation ${t.id}: ${status} on pipeline ${pipeline.id}, which was deleted: imported as failed`);
      error ??= `pipeline ${pipeline.id} was deleted before this ${status} operation ran (rf-db import)`;
      status = "failed";
    }
    const parent = (requestData as { parent_pipeline_id?: unknown } | null)?.parent_pipeline_id;
    const experimentId =
      pipeline?.experimentId ??
      (typeof parent === "number" ? pipelineOf.get(parent)?.experimentId : undefined) ??
      experimentAt(createdAt, `IC operation ${t.id}`);
    out.icOperations.push({
      icId: t.id + o.offsets.icOperations,
      experimentId: experimentId ?? null,
      pipelineId: pipeline?.id ?? null,
      operation,
      status,
      requestData,
      error,
      processedAt: date(processedAt),
      attempts: status === "pending" ? 0 : 1,
      ...(status === "processing" ? { leaseExpiresAt: date(processedAt ?? createdAt) } : {}),
      ...dates(createdAt, Math.max(createdAt, processedAt ?? 0)),
    });
  }
  if (warnings.length > 20) warnings.splice(20, warnings.length - 20, `… and ${warnings.length - 20} more`);
  return out;
}

function date(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}

/** createdAt/updatedAt; an unknown createdAt is left to the database's default (its clock, now). */
function dates(created: number | null, updated: number | null): { createdAt?: Date; updatedAt?: Date } {
  return {
    ...(created === null ? {} : { createdAt: new Date(created) }),
    ...(updated === null ? {} : { updatedAt: new Date(updated) }),
  };
}
