import { sql } from "drizzle-orm";
import { check, index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, oneOf } from "./columns";

/** Lifecycle of a whole experiment. */
export const EXPERIMENT_STATUSES = ["running", "completed", "failed", "cancelled"] as const;
export type ExperimentStatus = (typeof EXPERIMENT_STATUSES)[number];

export const experiments = sqliteTable(
  "experiments",
  {
    experimentId: integer("experiment_id").primaryKey({ autoIncrement: true }),
    experimentName: text("experiment_name").notNull(),
    numShards: integer("num_shards").notNull().default(0),
    numActors: integer("num_actors").notNull(),
    numCpus: integer("num_cpus"),
    numGpus: integer("num_gpus"),
    mlflowExperimentId: text("mlflow_experiment_id"),
    status: text("status", { enum: EXPERIMENT_STATUSES }).notNull().default("running"),
    error: text("error"),
    createdAt: createdAt(),
  },
  (t) => [
    check("experiments_status_check", oneOf(t.status, EXPERIMENT_STATUSES)),
    check(
      "experiments_counts_check",
      sql`${t.numShards} >= 0 and ${t.numActors} >= 0 and coalesce(${t.numCpus}, 0) >= 0 and coalesce(${t.numGpus}, 0) >= 0`,
    ),
    // getCurrent(): WHERE status = 'running' ORDER BY experiment_id DESC LIMIT 1
    index("experiments_status_idx").on(t.status, t.experimentId),
    // getByName(name): WHERE experiment_name = ? ORDER BY experiment_id DESC LIMIT 1; listNames(): DISTINCT experiment_name
    index("experiments_name_idx").on(t.experimentName, t.experimentId),
  ],
);

export type Experiment = typeof experiments.$inferSelect;
export type NewExperiment = typeof experiments.$inferInsert;
