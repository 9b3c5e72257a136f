/**
 * The Drizzle tables, for users who query the database directly
 * (`import { pipelines } from "rf-inferno-db/schema"`).
 */
export * from "./experiments";
export * from "./contexts";
export * from "./pipelines";
export * from "./actor-tasks";
export * from "./ic-operations";
export * from "./legacy-imports";
export { DB_NOW_MS, MAX_SAFE_ID, rowColumns, type RowOf, type Transitions } from "./columns";
export * from "./task-counts";
export * from "./change-log";
