import { sql } from "drizzle-orm";
import { check, index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, json, oneOf } from "./columns";
import { contexts } from "./contexts";
import { experiments } from "./experiments";

/** Lifecycle of one inference pipeline inside an experiment. */
export const PIPELINE_STATUSES = ["new", "ongoing", "completed", "stopped", "deleted", "failed"] as const;
export type PipelineStatus = (typeof PIPELINE_STATUSES)[number];

export const pipelines = sqliteTable(
  "pipelines",
  {
    pipelineId: integer("pipeline_id").primaryKey({ autoIncrement: true }),
    experimentId: integer("experiment_id")
      .notNull()
      .references(() => experiments.experimentId, { onDelete: "cascade" }),
    contextId: integer("context_id").references(() => contexts.contextId, { onDelete: "set null" }),
    pipelineName: text("pipeline_name").notNull(),
    pipelineType: text("pipeline_type").notNull(),
    modelConfig: json("model_config").notNull(),
    samplingParams: json("sampling_params").notNull(),
    status: text("status", { enum: PIPELINE_STATUSES }).notNull().default("new"),
    currentShardId: integer("current_shard_id").notNull().default(0),
    shardsCompleted: integer("shards_completed").notNull().default(0),
    totalSamplesProcessed: integer("total_samples_processed").notNull().default(0),
    error: text("error"),
    createdAt: createdAt(),
  },
  (t) => [
    check("pipelines_status_check", oneOf(t.status, PIPELINE_STATUSES)),
    check(
      "pipelines_progress_check",
      // Upper bound: counters are read back as JS numbers, so an increment past 2^53-1 is refused, not stored.
      sql`${t.currentShardId} >= 0 and ${t.shardsCompleted} between 0 and 9007199254740991 and ${t.totalSamplesProcessed} between 0 and 9007199254740991`,
    ),
    // list(experimentId): WHERE experiment_id = ? ORDER BY pipeline_id; also the experiment's ON DELETE CASCADE.
    index("pipelines_experiment_idx").on(t.experimentId, t.pipelineId),
    // The context's ON DELETE SET NULL looks pipelines up by context_id.
    index("pipelines_context_idx").on(t.contextId),
  ],
);

export type Pipeline = typeof pipelines.$inferSelect;
export type NewPipeline = typeof pipelines.$inferInsert;
