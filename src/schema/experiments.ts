import { sql } from "drizzle-orm";
import { check, index, integer, real, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { entityChecks, rowStamps, timestamp, type RowOf, type Transitions } from "./columns";

/** Lifecycle of a whole experiment. */
export const EXPERIMENT_STATUSES = ["running", "completed", "failed", "cancelled"] as const;
export type ExperimentStatus = (typeof EXPERIMENT_STATUSES)[number];

/** An experiment runs once: every end is final (a new run is a new experiment). */
export const EXPERIMENT_TRANSITIONS: Transitions<ExperimentStatus> = {
  running: ["completed", "failed", "cancelled"],
  completed: [],
  failed: [],
  cancelled: [],
};

export const experiments = sqliteTable(
  "experiments",
  {
    experimentId: integer("experiment_id").primaryKey({ autoIncrement: true }),
    experimentName: text("experiment_name").notNull(),
    /** The metric logger's (MLflow …) experiment id; `mlflowExperimentId` on rows is an alias of it. */
    metricExperimentId: text("metric_experiment_id"),
    numShards: integer("num_shards").notNull().default(0),
    numActors: integer("num_actors").notNull(),
    numCpus: integer("num_cpus"),
    numGpus: integer("num_gpus"),
    /** Resources per actor; fractional (0.5 GPU shares a device between two actors). */
    numCpusPerActor: real("num_cpus_per_actor"),
    numGpusPerActor: real("num_gpus_per_actor"),
    experimentMode: text("experiment_mode").notNull().default("evals"),
    status: text("status", { enum: EXPERIMENT_STATUSES }).notNull().default("running"),
    error: text("error"),
    /** The controller holding the experiment's liveness lease (`experiments.heartbeat`), and until when. */
    leaseOwner: text("lease_owner"),
    leaseExpiresAt: timestamp("lease_expires_at"),
    /** The controller's last heartbeat (database clock). */
    heartbeatAt: timestamp("heartbeat_at"),
    ...rowStamps(),
  },
  (t) => [
    ...entityChecks("experiments", t.experimentId, t.status, EXPERIMENT_STATUSES),
    check(
      "experiments_counts_check",
      sql`${t.numShards} >= 0 and ${t.numActors} >= 0 and coalesce(${t.numCpus}, 0) >= 0 and coalesce(${t.numGpus}, 0) >= 0 and coalesce(${t.numCpusPerActor}, 0) >= 0 and coalesce(${t.numGpusPerActor}, 0) >= 0`,
    ),
    // getCurrent(): WHERE status = 'running' ORDER BY experiment_id DESC LIMIT 1;
    // reapStale(): WHERE status = 'running' AND lease_expires_at < now.
    index("experiments_status_idx").on(t.status, t.experimentId),
    // getByName(name): WHERE experiment_name = ? ORDER BY experiment_id DESC LIMIT 1; listNames(): DISTINCT experiment_name
    index("experiments_name_idx").on(t.experimentName, t.experimentId),
  ],
);

/** A row as the repositories return it: the columns, plus `mlflowExperimentId` (alias of `metricExperimentId`). */
export type Experiment = RowOf<typeof experiments> & { mlflowExperimentId: string | null };
export type NewExperiment = typeof experiments.$inferInsert;

/**
 * `experiment_id` of a row that belongs to an experiment (pipelines, actor
 * tasks): required, and deleted with its experiment (ON DELETE CASCADE).
 */
export const experimentIdColumn = () =>
  integer("experiment_id")
    .notNull()
    .references(() => experiments.experimentId, { onDelete: "cascade" });
