import { sql } from "drizzle-orm";
import { check, index, integer, real, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, oneOf, timestamp } from "./columns";
import { experiments } from "./experiments";
import { pipelines } from "./pipelines";

/** Lifecycle of one shard of one pipeline run by one actor. */
export const ACTOR_TASK_STATUSES = ["scheduled", "in_progress", "completed", "failed"] as const;
export type ActorTaskStatus = (typeof ACTOR_TASK_STATUSES)[number];

export const actorTasks = sqliteTable(
  "actor_tasks",
  {
    // A plain rowid, not AUTOINCREMENT: tasks are the hot insert (one per shard),
    // and AUTOINCREMENT's sqlite_sequence update cost ~18% of an insert+complete
    // pair (bench: 67-73 vs 57-59 µs). A task id can only be reused after the
    // newest task was deleted (a reset), never while it exists.
    taskId: integer("task_id").primaryKey(),
    experimentId: integer("experiment_id")
      .notNull()
      .references(() => experiments.experimentId, { onDelete: "cascade" }),
    pipelineId: integer("pipeline_id")
      .notNull()
      .references(() => pipelines.pipelineId, { onDelete: "cascade" }),
    actorId: integer("actor_id").notNull(),
    shardId: integer("shard_id").notNull(),
    status: text("status", { enum: ACTOR_TASK_STATUSES }).notNull().default("scheduled"),
    errorMessage: text("error_message"),
    startedAt: timestamp("started_at"),
    completedAt: timestamp("completed_at"),
    durationSeconds: real("duration_seconds"),
    createdAt: createdAt(),
  },
  (t) => [
    check("actor_tasks_status_check", oneOf(t.status, ACTOR_TASK_STATUSES)),
    check("actor_tasks_ids_check", sql`${t.actorId} >= 0 and ${t.shardId} >= 0`),
    check("actor_tasks_duration_check", sql`${t.durationSeconds} is null or ${t.durationSeconds} >= 0`),
    // listRunning(experimentId): WHERE experiment_id = ? AND status = 'in_progress' (the Python module scanned here);
    // also the experiment's ON DELETE CASCADE.
    index("actor_tasks_experiment_status_idx").on(t.experimentId, t.status),
    // The pipeline's ON DELETE CASCADE looks tasks up by pipeline_id.
    index("actor_tasks_pipeline_idx").on(t.pipelineId),
  ],
);

export type ActorTask = typeof actorTasks.$inferSelect;
export type NewActorTask = typeof actorTasks.$inferInsert;
