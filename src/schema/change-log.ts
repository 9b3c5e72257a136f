import { sql } from "drizzle-orm";
import { check, index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { timestamp } from "./columns";

/**
 * What changed, as the change feed (`db.changes`) names it: the repository's
 * key on the database, so `db[change.entity].get(change.id)` reads the row.
 */
export const CHANGE_ENTITIES = ["experiments", "contexts", "pipelines", "actorTasks", "icOperations"] as const;
export type ChangeEntity = (typeof CHANGE_ENTITIES)[number];

/** The row's latest operation: a reader treats insert and update alike (upsert), delete removes. */
export const CHANGE_OPS = ["insert", "update", "delete"] as const;
export type ChangeOp = (typeof CHANGE_OPS)[number];

/**
 * The change log: ONE row per entity row, holding the row's latest change
 * under a fresh `seq`. The database's triggers (src/schema/change-triggers.ts)
 * maintain it inside the writing statement — so the seq is assigned under
 * SQLite's single write lock, in commit order, by every writer (the package,
 * raw SQL, other tools, other processes) — and replace the row's previous
 * entry, so a million progress updates of one pipeline leave one row.
 *
 * `seq` is the rowid without AUTOINCREMENT (no `sqlite_sequence` page written
 * per change): a new entry gets max(seq) + 1, and the maximum never goes down
 * — the triggers insert the new entry before deleting the old one, and
 * pruning keeps the newest row — so a seq is never handed out twice.
 *
 * Deleted rows leave a tombstone (`op = 'delete'`, `deletedAt` set) until
 * `db.changes.prune` removes it; `change_log_horizon` records how far pruning went.
 */
export const changeLog = sqliteTable(
  "change_log",
  {
    seq: integer("seq").primaryKey(),
    entity: text("entity", { enum: CHANGE_ENTITIES }).notNull(),
    rowId: integer("row_id").notNull(),
    /** The experiment the row belongs to (its own id for experiments; null for contexts). No foreign key: tombstones outlive their experiment. */
    experimentId: integer("experiment_id"),
    op: text("op", { enum: CHANGE_OPS }).notNull(),
    /** The row's status after the change (before it, for a delete). */
    status: text("status"),
    /** When the row was deleted (database clock); null unless `op` is delete. What pruning goes by. */
    deletedAt: timestamp("deleted_at"),
  },
  // No CHECK on entity and op, unlike the entity tables: only the rendered triggers write this table,
  // with constants, and a CHECK of `x in (<list>)` builds its list as a temporary B-tree on every
  // row written — measured at ~4 µs per change, a third of what the log costs the hot path.
  (t) => [
    // changes.prune(): tombstones older than the retention. Partial, so live rows (every hot-path change)
    // never touch it; since() reads by seq (the rowid) and needs no index of its own.
    index("change_log_tombstones_idx").on(t.deletedAt).where(sql`${t.op} = 'delete'`),
  ],
);

/**
 * How far `db.changes.prune` has gone: tombstones up to `prunedThrough` may be
 * gone, so a reader whose cursor is below it may have missed a delete
 * (`CursorExpiredError`: take a new snapshot). At most one row (id 1).
 */
export const changeLogHorizon = sqliteTable(
  "change_log_horizon",
  {
    id: integer("id").primaryKey(),
    prunedThrough: integer("pruned_through").notNull(),
  },
  (t) => [check("change_log_horizon_single_check", sql`${t.id} = 1`)],
);

export type ChangeLogRow = typeof changeLog.$inferSelect;
