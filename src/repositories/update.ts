/**
 * The ONE way an UPDATE is written. Every repository UPDATE (setters,
 * lifecycle transitions, claims, progress increments) and the database-wide
 * resets go through `updateOf`, so a column every update must also write —
 * e.g. `updated_at = <the database clock>` — is added in `alsoSet` below,
 * once, and no statement can forget it.
 */
import { getTableColumns } from "drizzle-orm";
import type { SQLiteTable, SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import { DB_NOW_MS } from "../schema";
import type { Executor } from "./executor";

/**
 * Columns every UPDATE of `table` writes besides its own: `updated_at` from
 * the database's clock (not the caller's: writers sit on different hosts).
 */
function alsoSet<T extends SQLiteTable>(table: T): SQLiteUpdateSetSource<T> | undefined {
  if (!("updatedAt" in getTableColumns(table))) return undefined;
  return { updatedAt: DB_NOW_MS } as SQLiteUpdateSetSource<T>;
}

/**
 * `UPDATE table SET …` (plus the columns every update writes), ready for
 * `.where(…)`, `.returning(…)`, `.prepare()`.
 * @example updateOf(this.db, pipelines, { status: slot("status") }).where(eq(pipelines.pipelineId, p("id"))).prepare()
 */
export function updateOf<T extends SQLiteTable>(db: Executor, table: T, set: SQLiteUpdateSetSource<T>) {
  const extra = alsoSet(table);
  return db.update(table).set(extra === undefined ? set : { ...set, ...extra });
}
