/**
 * Multi-row INSERTs as raw `{ sql, args }` statements, built from the Drizzle
 * tables (column names and value mapping come from the schema, so they cannot
 * drift). Drizzle's own builder is not used for the import's bulk rows: turning
 * an INSERT of 100 000 task rows into SQL took ~8 s there, ~0.1 s here.
 */
import type { InStatement, InValue } from "@libsql/client";
import { getTableColumns, getTableName, is, SQL } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";
import { DB_NOW_MS } from "../schema/columns";

/** SQLite allows 32 766 bound parameters per statement; stay under it. */
const MAX_PARAMS = 30_000;

/** A statement and the number of rows it inserts (for progress). */
export interface InsertStatement {
  statement: InStatement;
  rows: number;
}

/**
 * INSERT statements for `rows` (objects keyed like the table's TypeScript
 * fields), chunked. A field left undefined takes the column's default: its
 * constant, or `nowMs` for the database-clock defaults (`created_at`,
 * `updated_at`), which an INSERT … VALUES cannot name per row.
 * @example insertStatements(experiments, [{ experimentName: "x", numActors: 1 }], Date.now())
 */
export function insertStatements(
  table: SQLiteTable,
  rows: readonly Record<string, unknown>[],
  nowMs: number,
): InsertStatement[] {
  const columns = Object.entries(getTableColumns(table)) as [string, SQLiteColumn][];
  const names = columns.map(([, c]) => `"${c.name}"`).join(", ");
  const tuple = `(${columns.map(() => "?").join(", ")})`;
  const perChunk = Math.max(1, Math.floor(MAX_PARAMS / columns.length));
  const out: InsertStatement[] = [];
  for (let start = 0; start < rows.length; start += perChunk) {
    const chunk = rows.slice(start, start + perChunk);
    const args: InValue[] = [];
    for (const row of chunk) {
      for (const [key, column] of columns) args.push(driverValue(column, row[key], nowMs));
    }
    const sql = `INSERT INTO "${getTableName(table)}" (${names}) VALUES ${Array(chunk.length).fill(tuple).join(", ")}`;
    out.push({ statement: { sql, args }, rows: chunk.length });
  }
  return out;
}

function driverValue(column: SQLiteColumn, value: unknown, nowMs: number): InValue {
  if (value === undefined) {
    if (column.default === undefined || column.default === null) return null;
    if (column.default === DB_NOW_MS) return nowMs;
    // Another SQL default would need its own value here: fail loudly (tests import every table).
    if (is(column.default, SQL)) throw new Error(`insertStatements: no value for the SQL default of ${column.name}`);
    value = column.default;
  }
  if (value === null) return null;
  return column.mapToDriverValue(value) as InValue;
}
