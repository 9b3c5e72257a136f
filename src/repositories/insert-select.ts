/**
 * `INSERT INTO <table> (<every column>) SELECT <values> <tail>`: an INSERT
 * whose row comes from a query, so that it writes only when the query's
 * WHERE holds — in the same statement (an IC operation takes its experiment
 * from its pipeline; apply's clone inserts its child only if the operation
 * was taken by the statement before). Drizzle's `insert().select(sql)`
 * lists every column of the table; this fills the select list in that
 * order from `values`, else the column's default (as Drizzle's VALUES insert
 * does), else null — so a column added to the schema later is filled too.
 */
import { getTableColumns, is, Placeholder, SQL, sql } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Database, Executor } from "./executor";

/** What a column gets: an SQL expression, a column of the FROM, or a placeholder. */
export type SelectValue = SQL | SQLiteColumn | Placeholder;

/**
 * @example insertSelect(db, icOperations, { operation: p("op"), experimentId: pipelines.experimentId },
 *   sql`from ${pipelines} where ${pipelines.pipelineId} = ${p("pid")}`)
 */
export function insertSelect<T extends SQLiteTable>(
  db: Executor,
  table: T,
  values: Partial<Record<keyof T["$inferInsert"], SelectValue>>,
  tail: SQL,
) {
  const given = values as Record<string, SelectValue | undefined>;
  const list = Object.entries(getTableColumns(table))
    // As Drizzle's insert: a generated column (other than "by default") is not written.
    .filter(([, column]) => column.generated === undefined || column.generated.type === "byDefault")
    .map(([key, column]) => {
      const value = given[key];
      // A placeholder goes through the column's encoder (JSON, Date → ms), as in Drizzle's VALUES insert.
      if (is(value, Placeholder)) return sql`${sql.param(value, column)}`;
      if (value !== undefined) return sql`${value}`;
      if (column.defaultFn !== undefined) throw new Error(`rf-inferno-db: insertSelect cannot run ${key}'s $defaultFn`);
      if (is(column.default, SQL)) return column.default;
      return column.default === undefined ? sql`null` : sql.param(column.default, column);
    });
  return (db as Database).insert(table).select(sql`select ${sql.join(list, sql`, `)} ${tail}`);
}
