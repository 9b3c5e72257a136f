/**
 * `db.changes`: the change feed — what changed since a cursor, read from the
 * change log the database's triggers keep (src/schema/change-log.ts,
 * src/schema/change-triggers.ts).
 *
 * Exactness: a change's `seq` is assigned by the trigger inside the writing
 * statement, under SQLite's single write lock, so seqs grow in commit order
 * across every writer and process; a reader that has seen everything up to
 * seq C and asks for `seq > C` misses nothing committed later. Each entity row
 * has one log entry (its latest change), so a row that changed twice since
 * the cursor is reported once, with its latest op and status.
 *
 * One `since` is ONE statement (the page plus a trailer row with the log's
 * latest seq and the pruning horizon), hence one consistent read and one
 * request on a remote database.
 */
import { and, eq, gt, lt, lte, max, sql } from "drizzle-orm";
import { CursorExpiredError, mapDriverError, ValidationError } from "../errors";
import type { Database } from "../repositories";
import { CompiledQuery, StatementHolder } from "../repositories/engine";
import { type ChangeEntity, type ChangeOp, changeLog, changeLogHorizon, DB_NOW_MS } from "../schema";
import * as v from "../validate";

/** One change: the row `entity`/`id` was inserted, updated or deleted; `status` is its status after it (before, for a delete). */
export interface Change {
  seq: number;
  entity: ChangeEntity;
  id: number;
  /** The row's experiment (its own id for an experiment; null for a context, which experiments share). */
  experimentId: number | null;
  op: ChangeOp;
  status: string | null;
}

/** What `since` returns: the changes after the cursor (oldest first) and the cursor to pass next time. */
export interface ChangeBatch {
  changes: Change[];
  cursor: number;
}

export interface SinceOptions {
  /** Only this experiment's rows (contexts, which have none, are left out). */
  experimentId?: number;
  /** At most this many changes (1 … 10 000, default 1000); a full page means more may follow. */
  limit?: number;
}

export interface PruneOptions {
  /** Tombstones of rows deleted longer ago than this are removed (ms, default 7 days). */
  olderThanMs?: number;
}

export const DEFAULT_CHANGE_LIMIT = 1000;
export const MAX_CHANGE_LIMIT = 10_000;
/** Default retention of tombstones (deleted rows' entries): 7 days. */
export const DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000;

const p = sql.placeholder;

/** Throws ValidationError for an option the function does not know (no option is silently ignored). */
export function knownOptions<T extends object>(value: unknown, name: string, keys: readonly (keyof T)[]): Partial<T> {
  if (value === undefined) return {};
  const o = v.record(value, name);
  for (const k of Object.keys(o))
    if (!(keys as readonly string[]).includes(k))
      throw new ValidationError(`${name}.${k} is not an option (known: ${keys.join(", ")})`, { field: k });
  return o as Partial<T>;
}

/** `limit`: 1 … max, default `fallback`. */
export function pageLimit(value: unknown, fallback: number, maxLimit: number, field = "limit"): number {
  if (value === undefined) return fallback;
  const n = v.count(value, field);
  if (n < 1 || n > maxLimit)
    throw new ValidationError(`${field} must be between 1 and ${maxLimit}, got ${n}`, { field });
  return n;
}

/**
 * The change feed of one database (`db.changes`).
 * @example
 * let cursor = 0;
 * const { changes, cursor: next } = await db.changes.since(cursor, { experimentId });
 * for (const c of changes) console.log(c.entity, c.id, c.op, c.status);
 * cursor = next;
 */
export class ChangeFeed extends StatementHolder {
  /**
   * The changes after `cursor` (0: from the beginning — every row's latest
   * change, plus tombstones not yet pruned), oldest first, at most `limit`,
   * and the cursor to pass next time. A filtered read scans the log from the
   * cursor (seq order, the rowid) and keeps the experiment's changes: a reader
   * that keeps up reads only what changed since its last call.
   * Throws CursorExpiredError when deletes after the cursor were pruned.
   * @example const { changes, cursor } = await db.changes.since(0, { experimentId: 3, limit: 500 });
   */
  async since(cursor: number, options?: SinceOptions): Promise<ChangeBatch> {
    const from = v.count(cursor, "cursor");
    const o = knownOptions<SinceOptions>(options, "options", ["experimentId", "limit"]);
    const limit = pageLimit(o.limit, DEFAULT_CHANGE_LIMIT, MAX_CHANGE_LIMIT);
    const experimentId = o.experimentId === undefined ? undefined : v.id(o.experimentId, "experimentId");
    const stmt = experimentId === undefined ? this.#since("since", false) : this.#since("sinceExperiment", true);
    const rows = await this.#settle(stmt.all({ cursor: from, limit, experimentId }));
    return readBatch(rows as SinceRow[], from, limit);
  }

  /**
   * The latest seq in the log: the cursor that means "from now on".
   * @example for await (const b of db.watch({ cursor: await db.changes.head() })) …
   */
  async head(): Promise<number> {
    const stmt = this.statements.get("head", () =>
      (this.db as Database)
        .select({ head: max(changeLog.seq) })
        .from(changeLog)
        .prepare(),
    );
    return Number((await this.#settle(stmt.get()))?.head ?? 0);
  }

  /**
   * Removes tombstones (entries of deleted rows) at least as old as the retention
   * (default 7 days), in one transaction, and returns how many. A reader
   * whose cursor is older than the newest removed tombstone then gets
   * CursorExpiredError (and takes a new snapshot) instead of silently missing
   * a delete. Live rows' entries are never removed (there is one per row), nor
   * the newest entry (it keeps seqs from ever being reused). Run it now and
   * then, e.g. when an experiment ends.
   * @example const { pruned } = await db.changes.prune({ olderThanMs: 24 * 3600_000 });
   */
  async prune(options?: PruneOptions): Promise<{ pruned: number }> {
    const o = knownOptions<PruneOptions>(options, "options", ["olderThanMs"]);
    const olderThanMs = o.olderThanMs === undefined ? DEFAULT_RETENTION_MS : v.count(o.olderThanMs, "olderThanMs");
    const d = this.db as Database;
    const cl = changeLog;
    // Tombstones past the retention, never the newest entry (seq < max keeps max(seq) from going down).
    const expired = () =>
      and(
        sql`${cl.op} = 'delete'`, // a literal: the partial index change_log_tombstones_idx applies only then
        lte(cl.deletedAt, sql`${DB_NOW_MS} - ${p("olderThanMs")}`),
        lt(cl.seq, sql`(select max(${cl.seq}) from ${cl})`),
      );
    const horizon = this.statements.get("pruneHorizon", () =>
      d
        .insert(changeLogHorizon)
        .values({
          id: 1,
          prunedThrough: sql`coalesce((select max(${cl.seq}) from ${cl} where ${expired()}), 0)`,
        })
        .onConflictDoUpdate({
          target: changeLogHorizon.id,
          set: { prunedThrough: sql`max(${changeLogHorizon.prunedThrough}, excluded.pruned_through)` },
        })
        .prepare(),
    );
    const remove = this.statements.get("prune", () => d.delete(cl).where(expired()).prepare());
    const values = { olderThanMs };
    const [, removed] = await this.#settle(
      CompiledQuery.batch([
        { query: horizon as CompiledQuery<unknown>, values },
        { query: remove as CompiledQuery<unknown>, values },
      ]),
    );
    return { pruned: removed!.rowsAffected };
  }

  /**
   * `<the page> UNION ALL <trailer>`: the trailer row (entity null) carries the
   * log's latest seq (in `seq`) and the pruning horizon (in `rowId`), read in
   * the same statement as the page, so the cursor returned is exact.
   */
  #since(key: string, byExperiment: boolean) {
    return this.statements.get(key, () => {
      const d = this.db as Database;
      const cl = changeLog;
      const after = gt(cl.seq, p("cursor"));
      const page = d
        .select({
          seq: cl.seq,
          entity: cl.entity,
          rowId: cl.rowId,
          experimentId: cl.experimentId,
          op: cl.op,
          status: cl.status,
        })
        .from(cl)
        .where(byExperiment ? and(after, eq(cl.experimentId, p("experimentId"))) : after)
        .orderBy(cl.seq)
        .limit(p("limit"))
        .as("page");
      const h = changeLogHorizon;
      const trailer = d
        .select({
          seq: sql<number>`(select max(${cl.seq}) from ${cl})`.as("seq"),
          // Typed as the page's columns for the union; readBatch tells the trailer by its null entity.
          entity: sql<ChangeEntity>`null`.as("entity"),
          rowId: h.prunedThrough,
          experimentId: sql<number | null>`null`.as("experiment_id"),
          op: sql<ChangeOp>`null`.as("op"),
          status: sql<string | null>`null`.as("status"),
        })
        .from(h)
        .where(eq(h.id, 1));
      return d.select().from(page).unionAll(trailer).prepare();
    });
  }

  async #settle<T>(pending: Promise<T>): Promise<T> {
    try {
      return await pending;
    } catch (err) {
      throw mapDriverError(err, this.options);
    }
  }
}

type SinceRow = {
  seq: number | null;
  entity: ChangeEntity | null;
  rowId: number;
  experimentId: number | null;
  op: ChangeOp | null;
  status: string | null;
};

/** The page and the trailer → changes and the next cursor (or CursorExpiredError). */
function readBatch(rows: SinceRow[], from: number, limit: number): ChangeBatch {
  const changes: Change[] = [];
  let head: number | null = null;
  let horizon = 0;
  for (const r of rows) {
    if (r.entity === null) {
      head = r.seq;
      horizon = r.rowId ?? 0;
      continue;
    }
    changes.push({
      seq: r.seq!,
      entity: r.entity,
      id: r.rowId,
      experimentId: r.experimentId,
      op: r.op!,
      status: r.status,
    });
  }
  changes.sort((a, b) => a.seq - b.seq);
  if (from > 0 && from < horizon) throw new CursorExpiredError(from, horizon, "pruned");
  const latest = head ?? 0;
  if (from > latest && rows.some((r) => r.entity === null)) throw new CursorExpiredError(from, latest, "ahead");
  const last = changes.length > 0 ? changes[changes.length - 1]!.seq : from;
  // A full page: more may follow, continue after the last one. Otherwise everything up to the
  // log's latest seq (as of this same statement) has been seen, also what other experiments changed.
  const cursor = changes.length === limit ? last : Math.max(last, latest);
  return { changes, cursor };
}
