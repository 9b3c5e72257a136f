import { integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { entityChecks, json, rowStamps, runTimes, type RowOf, type Transitions } from "./columns";

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
    ...runTimes(),
    error: text("error"),
    ...rowStamps(),
  },
  (t) => [
    ...entityChecks("contexts", t.contextId, t.status, CONTEXT_STATUSES, t),
    // create() deduplicates on the hash (ON CONFLICT target) and getByHash(hash) looks it up.
    uniqueIndex("contexts_hash_idx").on(t.contextHash),
  ],
);

export type Context = RowOf<typeof contexts>;
export type NewContext = typeof contexts.$inferInsert;
