import { sql } from "drizzle-orm";
import { check, index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { attemptColumns, entityChecks, rowStamps, runTimes, timestamp, type RowOf, type Transitions } from "./columns";
import { experimentIdColumn } from "./experiments";
import { pipelines } from "./pipelines";

/** Lifecycle of one shard of one pipeline run by one actor. */
export const ACTOR_TASK_STATUSES = ["scheduled", "in_progress", "completed", "failed"] as const;
export type ActorTaskStatus = (typeof ACTOR_TASK_STATUSES)[number];

/**
 * `in_progress → scheduled` is the lease expiring (the task is handed out
 * again); completed and failed are final.
 */
export const ACTOR_TASK_TRANSITIONS: Transitions<ActorTaskStatus> = {
  scheduled: ["in_progress", "failed"],
  in_progress: ["completed", "failed", "scheduled"],
  completed: [],
  failed: [],
};

export const actorTasks = sqliteTable(
  "actor_tasks",
  {
    // AUTOINCREMENT: an id is never handed out twice, also after every task was
    // deleted (resetAllTables), so a late call about an old task can never touch a new one.
    taskId: integer("task_id").primaryKey({ autoIncrement: true }),
    experimentId: experimentIdColumn(),
    pipelineId: integer("pipeline_id")
      .notNull()
      .references(() => pipelines.pipelineId, { onDelete: "cascade" }),
    actorId: integer("actor_id").notNull(),
    shardId: integer("shard_id").notNull(),
    status: text("status", { enum: ACTOR_TASK_STATUSES }).notNull().default("scheduled"),
    errorMessage: text("error_message"),
    ...runTimes(),
    /** The actor holding the task's lease, and until when (database clock); null when not leased. */
    leaseOwner: integer("lease_owner"),
    leaseExpiresAt: timestamp("lease_expires_at"),
    ...attemptColumns(),
    ...rowStamps(),
  },
  (t) => [
    ...entityChecks("actor_tasks", t.taskId, t.status, ACTOR_TASK_STATUSES, t),
    check("actor_tasks_ids_check", sql`${t.actorId} >= 0 and ${t.shardId} >= 0`),
    // listRunning(experimentId), claimNext: WHERE experiment_id = ? AND status = ? (ordered by task_id
    // within a status); also the experiment's ON DELETE CASCADE.
    index("actor_tasks_experiment_status_idx").on(t.experimentId, t.status),
    // The pipeline's ON DELETE CASCADE looks tasks up by pipeline_id.
    index("actor_tasks_pipeline_idx").on(t.pipelineId),
    // claimNext's re-take of ended leases (longest ended first) and db.reapStale():
    // WHERE status = 'in_progress' AND lease_expires_at <= now ORDER BY lease_expires_at.
    index("actor_tasks_lease_idx").on(t.status, t.leaseExpiresAt),
  ],
);

export type ActorTask = RowOf<typeof actorTasks>;
export type NewActorTask = typeof actorTasks.$inferInsert;
