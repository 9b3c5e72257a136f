/**
 * The prepared statements of one connection, with what is known about each:
 * its scan (kind, parameters, row-count guarantee), its columns and its row
 * class — cached per SQL string, bounded, CLOCK eviction. `@libsql/client`'s
 * sqlite3 client prepares every statement again on every call; a hit here
 * costs one Map lookup.
 *
 * It also steers around two defects of the native `libsql` 0.5 binding
 * (see {@link Entry.stmtOne} and {@link StatementCache.failed}).
 */
import type Database from "libsql";
import type { IntMode } from "@libsql/client";
import { LibsqlError } from "@libsql/core/api";
import { isBusyError, toLibsqlError } from "./libsql-errors";
import { compileRowClass, genericRowClass, type RowCtor } from "./rows";
import { scanSql, type SqlInfo } from "./sql-scan";
import { EMPTY_STRINGS } from "./values";

/** One cached statement and what is known about it. */
export interface Entry {
  sql: string;
  stmt: Database.Statement;
  /**
   * Second handle for `get()` when the statement is run with both `get()`
   * and `all()` (trailing `LIMIT ?`): libsql 0.5.29's first `get()` after an
   * `all()`/`iterate()` on the same statement returns rows for the
   * *previous* bindings, so one native statement must only ever see one of
   * the two.
   */
  stmtOne: Database.Statement | undefined;
  info: SqlInfo;
  reader: boolean;
  columns: string[];
  columnTypes: string[];
  Row: RowCtor;
  compiled: boolean;
  uses: number;
  /** CLOCK "recently used" bit. */
  used: boolean;
  /**
   * Read statement in intMode "number": run without safeIntegers (a BigInt
   * per integer has a measurable cost: BENCHMARKS.md, "Local driver") and
   * re-run with them only if a value beyond ±2^53-1 shows up, which may have
   * lost precision. Re-running is safe because the statement is a plain SELECT.
   */
  fast: boolean;
}

export class StatementCache {
  readonly #db: Database.Database;
  readonly #entries = new Map<string, Entry>();
  /** The connection's own fixed statements (BEGIN, COMMIT, PRAGMA …), never evicted. */
  readonly #internal = new Map<string, Database.Statement>();
  readonly #capacity: number;
  readonly #intMode: IntMode;

  /**
   * `reuse: false` (an embedded replica): no statement is ever run twice.
   * On a replica, libsql 0.5 runs a prepared statement again with its
   * *first* bindings whatever it is given, and a statement fetched with
   * get() keeps its read snapshot, hiding later pulls (RELIABILITY.md, F9).
   * So every call prepares afresh (the internal statements too, as
   * `@libsql/client` does) and the connection never uses get() there.
   */
  constructor(db: Database.Database, capacity: number, intMode: IntMode, reuse = true) {
    this.#db = db;
    this.#capacity = reuse ? capacity : 0;
    this.#intMode = intMode;
    this.#reuse = reuse;
  }

  readonly #reuse: boolean;

  /** The entry for `sql`: cached (and marked recently used), or prepared now. */
  get(sql: string): Entry {
    const e = this.#entries.get(sql);
    if (e === undefined) return this.#prepare(sql);
    e.used = true;
    return e;
  }

  /**
   * `sql` failed with `err`. libsql 0.5 does not reset a statement that
   * failed. Its get() then re-executes with the failed call's bindings on
   * the next call (a FOREIGN KEY failure would repeat for every later
   * caller), so a failed statement is dropped and the next call prepares a
   * fresh one. Not after BUSY: that statement is still active (SQLite could
   * resume it) and the retry loop re-runs this same statement with the same
   * arguments, which resets it; when retries give up, the client replaces
   * the whole connection (see LocalClient's busy-retry hooks).
   */
  failed(sql: string, err: unknown): void {
    if (!isBusyError(err)) this.#entries.delete(sql);
  }

  /** The handle for `get()` of a statement also run with `all()` (see {@link Entry.stmtOne}). */
  one(e: Entry): Database.Statement {
    if (e.stmtOne !== undefined) return e.stmtOne;
    const s = this.#db.prepare(e.sql);
    s.raw(true);
    if (!e.fast) s.safeIntegers(true);
    e.stmtOne = s;
    return s;
  }

  /** From now on, read `e` with exact (BigInt) integers. */
  exact(e: Entry): void {
    e.fast = false;
    e.stmt.safeIntegers(true);
    e.stmtOne?.safeIntegers(true);
  }

  /**
   * The row class for a result `width` columns wide. `SELECT *` is
   * re-prepared by SQLite after another connection changed the schema; the
   * width tells us our cached names are stale. From the statement's second
   * result on, a generated row class replaces the generic one.
   */
  rowClass(e: Entry, width: number): RowCtor {
    if (width !== e.columns.length) this.#describe(e);
    if (!e.compiled && ++e.uses >= 2) {
      e.compiled = true;
      e.Row = compileRowClass(e.columns) ?? e.Row;
    }
    return e.Row;
  }

  /** An internal statement (prepared once; `reader`: raw rows with exact integers). */
  internal(sql: string, reader = false): Database.Statement {
    let s = this.#internal.get(sql);
    if (s === undefined) {
      s = this.#db.prepare(sql);
      if (reader) s.raw(true).safeIntegers(true);
      if (this.#reuse) this.#internal.set(sql, s);
    }
    return s;
  }

  /** An internal statement failed with `err` (see {@link failed}). */
  internalFailed(sql: string, err: unknown): void {
    if (!isBusyError(err)) this.#internal.delete(sql);
  }

  /** Drops the cached statements (their column metadata may be stale after DDL). */
  clear(): void {
    this.#entries.clear();
  }

  /** Drops everything, internal statements too (the connection is closing). */
  clearAll(): void {
    this.#entries.clear();
    this.#internal.clear();
  }

  get size(): number {
    return this.#entries.size;
  }

  #prepare(sql: string): Entry {
    if (typeof sql !== "string") throw new TypeError("SQL must be a string");
    const info = scanSql(sql);
    if (info.empty) throw new LibsqlError("The SQL string does not contain any statement", "SQL_NO_STATEMENT");
    if (info.multipleStatements) {
      throw new LibsqlError(
        "The SQL string contains more than one statement; use executeMultiple() or batch()",
        "SQL_MANY_STATEMENTS",
      );
    }
    let stmt: Database.Statement;
    try {
      stmt = this.#db.prepare(sql);
    } catch (err) {
      throw toLibsqlError(err);
    }
    const e: Entry = {
      sql,
      stmt,
      stmtOne: undefined,
      info,
      reader: stmt.reader,
      columns: EMPTY_STRINGS,
      columnTypes: EMPTY_STRINGS,
      Row: undefined as unknown as RowCtor,
      compiled: false,
      uses: 0,
      used: false,
      fast: false,
    };
    if (e.reader) {
      stmt.raw(true);
      e.fast = this.#intMode === "number" && info.kind === "read" && this.#reuse;
      if (!e.fast) stmt.safeIntegers(true);
      this.#describe(e);
    }
    if (this.#capacity > 0) {
      if (this.#entries.size >= this.#capacity) this.#evictOne();
      this.#entries.set(sql, e);
    }
    return e;
  }

  #describe(e: Entry): void {
    const cols = e.stmt.columns();
    e.columns = Object.freeze(cols.map((c) => c.name)) as string[];
    e.columnTypes = Object.freeze(cols.map((c) => c.type ?? "")) as string[];
    e.Row = genericRowClass(e.columns);
    e.compiled = false;
    e.uses = 0;
  }

  /** CLOCK: skip (and clear) recently used entries, evict the first one not used since the last sweep. */
  #evictOne(): void {
    let budget = this.#entries.size + 1;
    for (const [sql, e] of this.#entries) {
      if (e.used && budget-- > 0) {
        e.used = false;
        this.#entries.delete(sql);
        this.#entries.set(sql, e);
        continue;
      }
      this.#entries.delete(sql);
      return;
    }
  }
}
