import { sql } from "drizzle-orm";
import { check, index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, json, oneOf, timestamp } from "./columns";
import { pipelines } from "./pipelines";

/** What a user asked the scheduler to do to a running pipeline. */
export const IC_OPERATIONS = ["stop", "resume", "delete", "clone"] as const;
export type IcOperationType = (typeof IC_OPERATIONS)[number];

/** Lifecycle of a queued interactive-control request. */
export const IC_STATUSES = ["pending", "processing", "completed", "failed"] as const;
export type IcStatus = (typeof IC_STATUSES)[number];

export const interactiveControl = sqliteTable(
  "interactive_control",
  {
    icId: integer("ic_id").primaryKey({ autoIncrement: true }),
    // Null only for `clone`, which creates a pipeline rather than acting on one.
    pipelineId: integer("pipeline_id").references(() => pipelines.pipelineId, { onDelete: "cascade" }),
    operation: text("operation", { enum: IC_OPERATIONS }).notNull(),
    status: text("status", { enum: IC_STATUSES }).notNull().default("pending"),
    requestData: json("request_data"),
    error: text("error"),
    createdAt: createdAt(),
    processedAt: timestamp("processed_at"),
  },
  (t) => [
    check("interactive_control_operation_check", oneOf(t.operation, IC_OPERATIONS)),
    check("interactive_control_status_check", oneOf(t.status, IC_STATUSES)),
    // Every operation but clone targets a pipeline (API: pipelineId required except for clone).
    check("interactive_control_pipeline_check", sql`${t.operation} = 'clone' or ${t.pipelineId} is not null`),
    // listPending() and claimNext(): WHERE status = 'pending' ORDER BY ic_id
    index("interactive_control_status_idx").on(t.status, t.icId),
    // The pipeline's ON DELETE CASCADE looks operations up by pipeline_id.
    index("interactive_control_pipeline_idx").on(t.pipelineId),
  ],
);

export type IcOperation = typeof interactiveControl.$inferSelect;
export type NewIcOperation = typeof interactiveControl.$inferInsert;
