import { sql, type SQL } from "drizzle-orm";
import { integer, text, type SQLiteColumn } from "drizzle-orm/sqlite-core";

/**
 * The schema's single timestamp convention: INTEGER milliseconds since the
 * Unix epoch (UTC), surfaced to TypeScript as `Date`. Millisecond integers sort
 * and subtract cheaply in SQL (durations are computed in the UPDATE that ends a
 * task) and round-trip exactly through every libSQL transport.
 */
export const timestamp = (name: string) => integer(name, { mode: "timestamp_ms" });

/** `created_at`, filled in by the database so every writer agrees on the clock. */
export const createdAt = () =>
  timestamp("created_at").notNull().default(sql`(cast(unixepoch('subsec') * 1000 as integer))`);

/** A JSON document stored as TEXT; Drizzle stringifies on write and parses on read. */
export const json = (name: string) => text(name, { mode: "json" }).$type<unknown>();

/**
 * `<column> IN ('a', 'b', …)` for a CHECK constraint, built from the same
 * `as const` array the TypeScript union comes from, so the two cannot drift.
 * The values are our own constants (never user input), hence `sql.raw`.
 */
export function oneOf(column: SQLiteColumn, values: readonly string[]): SQL {
  const list = values.map((v) => `'${v.replaceAll("'", "''")}'`).join(", ");
  return sql`${column} in (${sql.raw(list)})`;
}
