import { sql } from "drizzle-orm";
import { type AnySQLiteColumn, check, index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { entityChecks, json, rowStamps, type RowOf, type Transitions } from "./columns";
import { contexts } from "./contexts";
import { experimentIdColumn } from "./experiments";

/** Lifecycle of one inference pipeline inside an experiment. */
export const PIPELINE_STATUSES = ["new", "ongoing", "completed", "stopped", "deleted", "failed"] as const;
export type PipelineStatus = (typeof PIPELINE_STATUSES)[number];

/**
 * Stop/resume go back and forth; completed and failed pipelines can only be
 * deleted; `deleted` is final (and accepts no interactive-control operation).
 */
export const PIPELINE_TRANSITIONS: Transitions<PipelineStatus> = {
  new: ["ongoing", "stopped", "deleted", "failed"],
  ongoing: ["completed", "stopped", "deleted", "failed"],
  stopped: ["ongoing", "deleted", "failed"],
  completed: ["deleted"],
  failed: ["deleted"],
  deleted: [],
};

export const pipelines = sqliteTable(
  "pipelines",
  {
    pipelineId: integer("pipeline_id").primaryKey({ autoIncrement: true }),
    experimentId: experimentIdColumn(),
    contextId: integer("context_id").references(() => contexts.contextId, { onDelete: "set null" }),
    /** The pipeline this one was cloned from (interactive control), if any. */
    parentPipelineId: integer("parent_pipeline_id").references((): AnySQLiteColumn => pipelines.pipelineId, {
      onDelete: "set null",
    }),
    pipelineName: text("pipeline_name"),
    pipelineType: text("pipeline_type").notNull(),
    modelConfig: json("model_config"),
    samplingParams: json("sampling_params"),
    /** The full configuration as the caller encoded it (e.g. RapidFire's Python payload): stored and returned unchanged. */
    pipelineConfig: text("pipeline_config"),
    /** The JSON-serialisable part of the configuration (analytics, display). */
    configJson: json("config_json"),
    /** `configJson` flattened to dotted keys → scalars (the control panel's view). */
    flattenedConfig: json("flattened_config"),
    /** sha256 of the canonical flattened configuration. */
    configHash: text("config_hash"),
    /** The metric logger's run id of this pipeline (unique when set). */
    metricRunId: text("metric_run_id"),
    /** Where the pipeline came from (`user`, `clone`, `import` …). */
    source: text("source"),
    status: text("status", { enum: PIPELINE_STATUSES }).notNull().default("new"),
    currentShardId: integer("current_shard_id").notNull().default(0),
    shardsCompleted: integer("shards_completed").notNull().default(0),
    totalSamplesProcessed: integer("total_samples_processed").notNull().default(0),
    error: text("error"),
    ...rowStamps(),
  },
  (t) => [
    ...entityChecks("pipelines", t.pipelineId, t.status, PIPELINE_STATUSES),
    check(
      "pipelines_progress_check",
      // Upper bound: counters are read back as JS numbers, so an increment past 2^53-1 is refused, not stored.
      sql`${t.currentShardId} >= 0 and ${t.shardsCompleted} between 0 and 9007199254740991 and ${t.totalSamplesProcessed} between 0 and 9007199254740991`,
    ),
    // list(experimentId): WHERE experiment_id = ? ORDER BY pipeline_id; also the experiment's ON DELETE CASCADE.
    // (Its columns never change, so only inserts and deletes write it.)
    index("pipelines_experiment_idx").on(t.experimentId, t.pipelineId),
    // listSummaries(experimentId): the same range, read from the index alone — it holds every summary
    // column (repositories/pipeline-summary.ts). Cost: a progress update rewrites the pipeline's entry
    // here (BENCHMARKS.md, "Run model"). Without pipelines_experiment_idx beside it, the planner
    // scans the table for list() once statistics say one experiment holds most pipelines.
    index("pipelines_summary_idx").on(
      t.experimentId,
      t.pipelineId,
      t.status,
      t.currentShardId,
      t.shardsCompleted,
      t.totalSamplesProcessed,
      t.updatedAt,
      t.parentPipelineId,
      t.pipelineName,
      t.pipelineType,
      t.metricRunId,
      t.source,
    ),
    // The context's ON DELETE SET NULL looks pipelines up by context_id.
    index("pipelines_context_idx").on(t.contextId),
    // lineage(id) walks children; a deleted parent's ON DELETE SET NULL finds them here. Partial: most
    // pipelines have no parent, and ANALYZE counting their NULLs as one value would tell the planner
    // the index is useless (it then scanned it on every pipelines INSERT's foreign-key check, and
    // built an automatic index for lineage). `parent_pipeline_id = ?` implies NOT NULL, so both use it.
    index("pipelines_parent_idx").on(t.parentPipelineId).where(sql`${t.parentPipelineId} is not null`),
    // getByMetricRunId(runId); at most one pipeline per metric run.
    uniqueIndex("pipelines_metric_run_idx").on(t.metricRunId),
  ],
);

export type Pipeline = RowOf<typeof pipelines>;
export type NewPipeline = typeof pipelines.$inferInsert;
