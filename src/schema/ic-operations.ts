import { sql } from "drizzle-orm";
import { check, index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import {
  attemptColumns,
  entityChecks,
  json,
  oneOf,
  rowStamps,
  timestamp,
  type RowOf,
  type Transitions,
} from "./columns";
import { experiments } from "./experiments";
import { pipelines } from "./pipelines";

/** What a user asked the scheduler to do to a running pipeline. */
export const IC_OPERATIONS = ["stop", "resume", "delete", "clone"] as const;
export type IcOperationType = (typeof IC_OPERATIONS)[number];

/** Lifecycle of a queued interactive-control request. */
export const IC_STATUSES = ["pending", "processing", "completed", "failed", "cancelled"] as const;
export type IcStatus = (typeof IC_STATUSES)[number];

/**
 * `processing → pending` is the worker's lease expiring (the operation is
 * delivered again); a pending operation can be cancelled, failed (by a reset,
 * or when applying it fails), or completed directly when the controller
 * applies its queue itself without claiming (`icOperations.apply`).
 */
export const IC_TRANSITIONS: Transitions<IcStatus> = {
  pending: ["processing", "completed", "cancelled", "failed"],
  processing: ["completed", "failed", "pending"],
  completed: [],
  failed: [],
  cancelled: [],
};

/**
 * The dedupe key of a live (pending/processing) operation, null otherwise: the expression the
 * unique index below is built on, and the conflict target of `icOperations.create`'s upsert
 * (SQLite matches the two by their text).
 */
export const LIVE_DEDUPE_KEY = "(case when status = 'pending' or status = 'processing' then dedupe_key end)";

/** The interactive-control queue (SQL table `interactive_control`, the Python module's name). */
export const icOperations = sqliteTable(
  "interactive_control",
  {
    icId: integer("ic_id").primaryKey({ autoIncrement: true }),
    /** The experiment the operation belongs to (backfilled from the pipeline for rows written before it existed). */
    experimentId: integer("experiment_id").references(() => experiments.experimentId, { onDelete: "cascade" }),
    // For `clone`: the parent pipeline (null only in rows written by older versions).
    pipelineId: integer("pipeline_id").references(() => pipelines.pipelineId, { onDelete: "cascade" }),
    operation: text("operation", { enum: IC_OPERATIONS }).notNull(),
    status: text("status", { enum: IC_STATUSES }).notNull().default("pending"),
    requestData: json("request_data"),
    error: text("error"),
    /** Same key while pending/processing = the same request (a double-clicked stop is one operation). */
    dedupeKey: text("dedupe_key"),
    /** The worker's lease on a `processing` operation (database clock). */
    leaseExpiresAt: timestamp("lease_expires_at"),
    ...attemptColumns(),
    processedAt: timestamp("processed_at"),
    ...rowStamps(),
  },
  (t) => [
    ...entityChecks("interactive_control", t.icId, t.status, IC_STATUSES, t),
    check("interactive_control_operation_check", oneOf(t.operation, IC_OPERATIONS)),
    // Every operation but clone targets a pipeline (API: pipelineId required except for clone).
    check("interactive_control_pipeline_check", sql`${t.operation} = 'clone' or ${t.pipelineId} is not null`),
    // listPending() and claimNext(): WHERE status = 'pending' ORDER BY ic_id
    index("interactive_control_status_idx").on(t.status, t.icId),
    // claimNext({ experimentId }), listPending per experiment; also the experiment's ON DELETE CASCADE.
    index("interactive_control_experiment_idx").on(t.experimentId, t.status, t.icId),
    // The pipeline's ON DELETE CASCADE looks operations up by pipeline_id.
    index("interactive_control_pipeline_idx").on(t.pipelineId),
    // claimNext's re-take of ended leases (longest ended first) and db.reapStale():
    // WHERE status = 'processing' AND lease_expires_at <= now ORDER BY lease_expires_at.
    index("interactive_control_lease_idx").on(t.status, t.leaseExpiresAt),
    // create({ dedupeKey }): at most one live (pending/processing) operation per key. An expression
    // index rather than a partial one: with a partial index on the table SQLite 3.45's planner picks
    // odd plans for unrelated whole-table reads (a secondary index scan plus a sort).
    uniqueIndex("interactive_control_dedupe_idx").on(sql.raw(LIVE_DEDUPE_KEY)),
  ],
);

/** The same table under the name of the first release (`rf-inferno-db/schema` users may import it). */
export const interactiveControl = icOperations;

export type IcOperation = RowOf<typeof icOperations>;
export type NewIcOperation = typeof icOperations.$inferInsert;
