/**
 * The ONE way an UPDATE is written. Every repository UPDATE (setters,
 * lifecycle transitions, claims, progress increments) and the database-wide
 * resets go through `updateOf`, so a column every update must also write —
 * e.g. `updated_at = <the database clock>` — is added in `alsoSet` below,
 * once, and no statement can forget it.
 */
import type { SQLiteTable, SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import type { Executor } from "./base-repository";

/** Columns every UPDATE of `table` writes besides its own (none yet). */
function alsoSet<T extends SQLiteTable>(_table: T): SQLiteUpdateSetSource<T> | undefined {
  return undefined;
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
