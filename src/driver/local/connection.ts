/**
 * One native `libsql` handle and its statement cache. Fully synchronous:
 * every method runs on the calling tick and throws (LibsqlError, or
 * RangeError/TypeError for bad arguments). Who may call it when — the
 * mutex, the busy retries, transactions — is the client's business.
 */
import type Database from "libsql";
import type { InArgs, InStatement, IntMode, Replicated, ResultSet, Row, TransactionMode } from "@libsql/client";
import { LibsqlBatchError } from "@libsql/core/api";
import { clientClosedError, toBatchError, toLibsqlError } from "./libsql-errors";
import { openNative, setUp } from "./native-open";
import type { ResolvedOptions } from "./options";
import { LocalResultSet, wrapRows } from "./rows";
import type { SqlKind } from "./sql-scan";
import { type Entry, StatementCache } from "./statement-cache";
import { bindArgs, type Bound, EMPTY_ARGS, EMPTY_STRINGS, MAX_SAFE } from "./values";

export type NormalizedStmt = { sql: string; args: InArgs | undefined };

export function normalizeStmt(s: InStatement | [string, InArgs?]): NormalizedStmt {
  if (typeof s === "string") return { sql: s, args: undefined };
  if (Array.isArray(s)) return { sql: s[0], args: s[1] };
  if (s === null || typeof s !== "object" || typeof s.sql !== "string")
    throw new TypeError("Invalid statement: expected a string or { sql, args }");
  return { sql: s.sql, args: s.args };
}

export function checkMode(mode: TransactionMode): void {
  if (mode !== "write" && mode !== "read" && mode !== "deferred") {
    throw new RangeError('Unknown transaction mode, supported values are "write", "read" and "deferred"');
  }
}

const CHANGES = "SELECT changes(), last_insert_rowid()";
/** DDL that makes state of this connection only (conservative: a false match just keeps reads here). */
const LOCAL_STATE = /\b(TEMP|TEMPORARY|ATTACH)\b/i;

export class Connection {
  readonly db: Database.Database;
  closed = false;
  /** Holds what no other connection sees (TEMP objects, ATTACHed databases): its reads stay on it. */
  localState = false;
  /** Kind of the statement most recently run (set before it runs). */
  lastKind: SqlKind = "other";
  readonly #stmts: StatementCache;
  readonly #intMode: IntMode;
  /** An embedded replica: statements are never reused and never fetched with get() (F9). */
  readonly #replica: boolean;

  /** `reopen`: a replacement connection to a file this client already set up (WAL is persistent). */
  constructor(o: ResolvedOptions, reopen = false) {
    this.#intMode = o.intMode;
    this.#replica = o.sync !== undefined;
    const db = openNative(o);
    this.db = db;
    this.#stmts = new StatementCache(db, o.cacheSize, o.intMode, o.sync === undefined);
    try {
      setUp(db, o, reopen);
    } catch (e) {
      try {
        db.close();
      } catch {
        /* ignore */
      }
      throw toLibsqlError(e);
    }
  }

  /** Runs one statement (prepared statement from cache). Throws LibsqlError/RangeError/TypeError. */
  run(sql: string, args: InArgs | undefined): LocalResultSet {
    if (this.closed) throw clientClosedError();
    const e = this.#stmts.get(sql);
    this.lastKind = e.info.kind;
    const bound = args == null ? EMPTY_ARGS : bindArgs(args, e.info, this.#intMode);
    try {
      if (!e.reader) {
        const r = e.stmt.run(bound);
        if (e.info.kind === "schema") this.clearCache(sql);
        return new LocalResultSet(EMPTY_STRINGS, EMPTY_STRINGS, [], r.changes, this.#rowid(r.lastInsertRowid));
      }
      return this.#query(e, bound);
    } catch (err) {
      const le = toLibsqlError(err);
      this.#stmts.failed(sql, le); // libsql does not reset a failed statement: see there
      throw le;
    }
  }

  #query(e: Entry, bound: Bound): LocalResultSet {
    const stmt = e.stmt;
    const info = e.info;
    // Reads only (the scan never promises one row for a write): a write with
    // RETURNING must go through all(), the one method of libsql 0.5 that
    // reports a failed autocommit COMMIT (RELIABILITY.md, F8).
    let one = info.maxOneRow === 1 && !this.#replica;
    if (info.maxOneRow === 2 && !this.#replica) {
      const v = (bound as unknown[])[info.anonymousParams - 1];
      one = (typeof v === "number" && v >= 0 && v <= 1) || (typeof v === "bigint" && v >= 0n && v <= 1n);
    }
    let raws: unknown[][];
    if (info.maxOneRow === 2 && !this.#replica) {
      if (one) raws = fetchOne(this.#stmts.one(e), bound);
      else raws = stmt.all(bound) as unknown[][];
    } else raws = one ? fetchOne(stmt, bound) : (stmt.all(bound) as unknown[][]);
    let rows: Row[] | null = null;
    if (e.fast) rows = this.#rows(e, raws, true);
    if (rows === null) {
      if (e.fast) {
        // An integer may have lost precision: read it again exactly, and
        // stay in exact mode for this statement from now on.
        this.#stmts.exact(e);
        const s = one && e.stmtOne !== undefined ? e.stmtOne : stmt;
        raws = one ? fetchOne(s, bound) : (s.all(bound) as unknown[][]);
      }
      rows = this.#rows(e, raws, false)!;
    }
    if (info.kind === "write") {
      // RETURNING: all()/get() do not report changes; ask SQLite.
      const r = this.#changes();
      return new LocalResultSet(e.columns, e.columnTypes, rows, Number(r[0]), r[1]);
    }
    return new LocalResultSet(e.columns, e.columnTypes, rows, 0, undefined);
  }

  /** The rows of a result; null if `fast` and a possibly imprecise integer was seen. */
  #rows(e: Entry, raws: unknown[][], fast: boolean): Row[] | null {
    if (raws.length === 0) return [];
    const Ctor = this.#stmts.rowClass(e, raws[0]!.length);
    return wrapRows(Ctor, e.columns.length, raws, fast, this.#intMode);
  }

  #rowid(id: number | bigint): bigint {
    if (typeof id === "bigint") return id;
    if (id <= MAX_SAFE && id >= -MAX_SAFE) return BigInt(id);
    // The binding reports it as a double; fetch the exact value.
    return this.#changes()[1];
  }

  /** `changes()` and `last_insert_rowid()`, exact. */
  #changes(): [bigint, bigint] {
    const stmt = this.#stmts.internal(CHANGES, true);
    return (this.#replica ? (stmt.all([]) as unknown[])[0] : stmt.get([])) as [bigint, bigint];
  }

  /** Drops cached statements (their column metadata may be stale after `sql`, DDL or a script). */
  clearCache(sql?: string): void {
    this.#stmts.clear();
    if (sql !== undefined && LOCAL_STATE.test(sql)) this.localState = true;
  }

  get cachedStatements(): number {
    return this.#stmts.size;
  }

  /** Runs a fixed internal statement; throws LibsqlError. */
  internal(sql: string): void {
    if (this.closed) throw clientClosedError();
    try {
      this.#stmts.internal(sql).run([]);
    } catch (e) {
      const le = toLibsqlError(e);
      this.#stmts.internalFailed(sql, le);
      throw le;
    }
  }

  /**
   * BEGIN for a transaction mode. "read" = BEGIN DEFERRED + PRAGMA
   * query_only, because local libsql accepts writes in
   * `BEGIN TRANSACTION READONLY`; query_only makes writes fail with
   * SQLITE_READONLY like a remote read transaction would.
   */
  begin(mode: TransactionMode): void {
    this.internal(mode === "write" ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
    if (mode === "read") {
      try {
        this.internal("PRAGMA query_only = 1");
      } catch (e) {
        this.rollbackQuietly();
        throw e;
      }
    }
  }

  /** Undoes `begin("read")`'s query_only once the transaction is over. */
  endTransaction(mode: TransactionMode): void {
    if (mode === "read" && !this.closed) {
      try {
        this.internal("PRAGMA query_only = 0");
      } catch {
        /* connection unusable anyway */
      }
    }
  }

  get inTransaction(): boolean {
    return !this.closed && this.db.inTransaction;
  }

  rollbackQuietly(): void {
    try {
      if (this.inTransaction) this.internal("ROLLBACK");
    } catch {
      /* nothing more we can do */
    }
  }

  /** The statements of an atomic batch: BEGIN, all, COMMIT; ROLLBACK and LibsqlBatchError(index) on failure. */
  batch(stmts: NormalizedStmt[], mode: TransactionMode): ResultSet[] {
    this.begin(mode);
    try {
      const out: ResultSet[] = new Array(stmts.length);
      for (let i = 0; i < stmts.length; i++) {
        const s = stmts[i]!;
        try {
          out[i] = this.run(s.sql, s.args);
          if (this.lastKind === "transaction" && !this.inTransaction && i < stmts.length - 1) {
            throw new LibsqlBatchError(
              "The transaction was ended by a statement of the batch",
              i + 1,
              "TRANSACTION_CLOSED",
            );
          }
        } catch (e) {
          throw toBatchError(e, i);
        }
      }
      if (this.inTransaction) this.internal("COMMIT");
      return out;
    } catch (e) {
      this.rollbackQuietly();
      throw e;
    } finally {
      this.endTransaction(mode);
    }
  }

  /** Embedded replica: pulls the primary's new frames (synchronous in libsql: the thread waits). */
  pull(): Replicated {
    try {
      const r = this.db.sync() as { frame_no?: number; frames_synced?: number } | undefined;
      return { frame_no: r?.frame_no ?? 0, frames_synced: r?.frames_synced ?? 0 };
    } catch (e) {
      throw toLibsqlError(e);
    }
  }

  exec(sql: string): void {
    if (this.closed) throw clientClosedError();
    try {
      this.db.exec(sql);
    } catch (e) {
      throw toLibsqlError(e);
    }
  }

  /**
   * libsql offers no way to finalize a prepared statement, and SQLite keeps a
   * connection open while it has statements: the cached ones are dropped here
   * and the file handle (and its shared WAL lock) goes away when they are
   * garbage-collected. Other connections can read and write meanwhile; only
   * exclusive changes (e.g. leaving WAL mode) would see SQLITE_BUSY until then.
   */
  close(): void {
    if (this.closed) return;
    // libsql keeps the native connection (and a transaction's write lock) until its statements are
    // garbage-collected; a transaction open at close must end now, or other connections see SQLITE_BUSY.
    this.rollbackQuietly();
    this.closed = true;
    this.#stmts.clearAll();
    this.db.close();
  }
}

/** Only for statements that are never run with all()/iterate() (see Entry.stmtOne). */
function fetchOne(stmt: Database.Statement, bound: Bound): unknown[][] {
  const r = stmt.get(bound) as unknown[] | undefined;
  return r === undefined ? [] : [r];
}
