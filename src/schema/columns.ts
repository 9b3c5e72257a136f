import { getTableColumns, sql, type SQL } from "drizzle-orm";
import { check, integer, real, text, type SQLiteColumn, type SQLiteTable } from "drizzle-orm/sqlite-core";

/**
 * The schema's single timestamp convention: INTEGER milliseconds since the
 * Unix epoch (UTC), surfaced to TypeScript as `Date`. Millisecond integers sort
 * and subtract cheaply in SQL (durations are computed in the UPDATE that ends a
 * task) and round-trip exactly through every libSQL transport.
 */
export const timestamp = (name: string) => integer(name, { mode: "timestamp_ms" });

/**
 * The database's clock in epoch milliseconds, as an SQL expression. Every time
 * the database decides (created/updated times, lease expiries) comes from here,
 * so writers on hosts with different clocks agree. Written with `julianday`
 * rather than `unixepoch('subsec')` (SQLite 3.42+) so that defaults also work
 * for rows inserted by older SQLite builds (Python 3.11 ships 3.40; 3.37+ is
 * supported): `julianday('now')` has millisecond resolution and is fixed for
 * the duration of one statement. As text for SQL rendered outside Drizzle (triggers).
 */
export const DB_NOW_MS_SQL = "(cast(round((julianday('now') - 2440587.5) * 86400000) as integer))";
/** {@link DB_NOW_MS_SQL} for Drizzle (column defaults, UPDATE … SET). */
export const DB_NOW_MS: SQL = sql.raw(DB_NOW_MS_SQL);

/** `created_at`, filled in by the database so every writer agrees on the clock. */
export const createdAt = () => timestamp("created_at").notNull().default(DB_NOW_MS);

/**
 * `updated_at`: the database clock at the row's last change. The repositories
 * set it in every statement that changes a row (to `DB_NOW_MS`); the default
 * covers inserts, including rows written by other tools.
 */
export const updatedAt = () => timestamp("updated_at").notNull().default(DB_NOW_MS);

/**
 * `change_seq`: the position of the row's latest change in the change log
 * (`change_log.seq`), kept by the change-log triggers (src/schema/change-triggers.ts):
 * they point it at the row's log entry so the next change of the row can
 * replace that entry (one log row per entity row) without an index lookup.
 * Null until the row's first change is logged (set by the same statement's trigger).
 */
export const changeSeq = () => integer("change_seq");

/**
 * Every entity row's bookkeeping, last in each table: `created_at`, `updated_at`
 * and `change_seq`. A function so each table gets its own column builders.
 */
export const rowStamps = () => ({ createdAt: createdAt(), updatedAt: updatedAt(), changeSeq: changeSeq() });

/**
 * When a unit of work ran: `started_at`, `completed_at` and `duration_seconds`
 * (contexts, actor tasks). The repositories fill them through one helper with
 * one duration policy (src/repositories/lifecycle.ts); {@link entityChecks}
 * keeps the stored duration non-negative.
 */
export const runTimes = () => ({
  startedAt: timestamp("started_at"),
  completedAt: timestamp("completed_at"),
  durationSeconds: real("duration_seconds"),
});

/**
 * Claims of leased work (actor tasks, IC operations): `attempts` so far and the
 * `max_attempts` past which an expired lease fails the work instead of handing it out again.
 */
export const attemptColumns = () => ({
  attempts: integer("attempts").notNull().default(0),
  maxAttempts: integer("max_attempts").notNull().default(3),
});

/**
 * A row as the package returns it: every column but `changeSeq`, which is
 * bookkeeping of the change log (the feed's `seq` says the same to a reader).
 * Also because a write's RETURNING shows the row before its own triggers ran:
 * a row returned by `claimNext` would carry the previous pointer.
 */
export type RowOf<T extends SQLiteTable> = Omit<T["$inferSelect"], "changeSeq">;

const ROW_COLUMNS = new WeakMap<SQLiteTable, Record<string, SQLiteColumn>>();

/**
 * The columns of {@link RowOf}: what `select(…)` and `returning(…)` of a whole
 * row list (instead of `select()` / `returning()`, which include `changeSeq`).
 * @example db.select(rowColumns(pipelines)).from(pipelines)
 */
export function rowColumns<T extends SQLiteTable>(table: T): T["_"]["columns"] {
  let cols = ROW_COLUMNS.get(table);
  if (cols === undefined) {
    const { changeSeq: _bookkeeping, ...rest } = getTableColumns(table) as Record<string, SQLiteColumn>;
    cols = rest;
    ROW_COLUMNS.set(table, cols);
  }
  return cols as T["_"]["columns"];
}

/** A JSON document stored as TEXT; Drizzle stringifies on write and parses on read. */
export const json = (name: string) => text(name, { mode: "json" }).$type<unknown>();

/** Largest id (and counter) a JavaScript number represents exactly: 2^53 - 1. */
export const MAX_SAFE_ID = 9007199254740991;

/**
 * `CHECK (<id> <= 2^53-1)` on a table's INTEGER PRIMARY KEY. With AUTOINCREMENT
 * the next id is max+1, so once an id at the limit exists (e.g. written by
 * another tool) an insert is refused *before* anything is written, instead of
 * committing a row whose id the package could not return exactly.
 */
export const idCheck = (table: string, id: SQLiteColumn) =>
  check(`${table}_id_check`, sql`${id} between 0 and ${sql.raw(String(MAX_SAFE_ID))}`);

/** The columns {@link entityChecks} may constrain besides the id and the status. */
interface CheckedColumns {
  durationSeconds?: SQLiteColumn;
  attempts?: SQLiteColumn;
  maxAttempts?: SQLiteColumn;
}

/**
 * The CHECK constraints every entity table shares, named `<table>_<what>_check`:
 * the id in range ({@link idCheck}), the status in its list, and, when the
 * table has them, a non-negative duration ({@link runTimes}) and sane attempt
 * counters ({@link attemptColumns}).
 */
export function entityChecks(
  table: string,
  id: SQLiteColumn,
  status: SQLiteColumn,
  statuses: readonly string[],
  cols: CheckedColumns = {},
) {
  const checks = [idCheck(table, id), check(`${table}_status_check`, oneOf(status, statuses))];
  const { durationSeconds: d, attempts: a, maxAttempts: m } = cols;
  if (d !== undefined) checks.push(check(`${table}_duration_check`, sql`${d} is null or ${d} >= 0`));
  if (a !== undefined && m !== undefined) checks.push(check(`${table}_attempts_check`, sql`${a} >= 0 and ${m} >= 1`));
  return checks;
}

/**
 * `<column> IN ('a', 'b', …)` for a CHECK constraint, built from the same
 * `as const` array the TypeScript union comes from, so the two cannot drift.
 * The values are our own constants (never user input), hence `sql.raw`.
 */
export function oneOf(column: SQLiteColumn, values: readonly string[]): SQL {
  const list = values.map((v) => `'${v.replaceAll("'", "''")}'`).join(", ");
  return sql`${column} in (${sql.raw(list)})`;
}

/**
 * A status machine: for each status, the statuses it may move to. Exported per
 * entity (`PIPELINE_TRANSITIONS` …); the repositories' `setStatus` and the
 * database's transition triggers are both derived from these tables.
 */
export type Transitions<S extends string> = { readonly [From in S]: readonly S[] };
