import { sql } from "drizzle-orm";
import { check, integer, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import {
  changeSeq,
  createdAt,
  idCheck,
  json,
  oneOf,
  timestamp,
  updatedAt,
  type RowOf,
  type Transitions,
} from "./columns";

/** Lifecycle of a RAG context (an index built once and shared by pipelines). */
export const CONTEXT_STATUSES = ["pending", "building", "ready", "failed"] as const;
export type ContextStatus = (typeof CONTEXT_STATUSES)[number];

/** Built once; a failed build may be tried again. */
export const CONTEXT_TRANSITIONS: Transitions<ContextStatus> = {
  pending: ["building", "ready", "failed"],
  building: ["ready", "failed"],
  ready: [],
  failed: ["building"],
};

export const contexts = sqliteTable(
  "contexts",
  {
    contextId: integer("context_id").primaryKey({ autoIncrement: true }),
    contextHash: text("context_hash").notNull(),
    ragConfig: json("rag_config"),
    promptConfig: json("prompt_config"),
    status: text("status", { enum: CONTEXT_STATUSES }).notNull().default("pending"),
    startedAt: timestamp("started_at"),
    completedAt: timestamp("completed_at"),
    durationSeconds: real("duration_seconds"),
    error: text("error"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    changeSeq: changeSeq(),
  },
  (t) => [
    idCheck("contexts", t.contextId),
    check("contexts_status_check", oneOf(t.status, CONTEXT_STATUSES)),
    check("contexts_duration_check", sql`${t.durationSeconds} is null or ${t.durationSeconds} >= 0`),
    // create() deduplicates on the hash (ON CONFLICT target) and getByHash(hash) looks it up.
    uniqueIndex("contexts_hash_idx").on(t.contextHash),
  ],
);

export type Context = RowOf<typeof contexts>;
export type NewContext = typeof contexts.$inferInsert;
