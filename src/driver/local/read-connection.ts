/**
 * The read connection. While a transaction, batch or busy retry of the client
 * holds the write connection, a statement that only reads (or a batch of
 * them) runs here, on the calling tick, instead of queueing behind it. It
 * sees the last committed state (each statement, or each batch, reads one
 * WAL snapshot), never the open transaction's writes — those are seen
 * through the transaction object. When the write connection is free, reads
 * stay on it (the fast path): measured in BENCHMARKS.md ("Reads beside a
 * write transaction").
 *
 * Only for files in WAL mode. With a rollback journal a writer locks readers
 * out while it commits or spills its cache (reads would wait natively,
 * blocking the thread); `:memory:` cannot be opened twice (README, "Reads
 * beside writes").
 *
 * Opened lazily, on first need, like the client's own connection (path,
 * encryption key, read-only mode, busy timeout, statement cache — and so the
 * statement cache's libsql workarounds) but never creating the file, and
 * with `PRAGMA query_only = 1`: a statement judged a read that tried to write
 * would fail rather than write outside the transaction.
 *
 * An embedded replica's read connection is a plain connection to the
 * replica's file, and there every read uses it, not only while the replica
 * handle is held: it reads what the replica handle would (the last pull, and
 * the replica's own writes, which libsql pulls back before they return),
 * while the replica handle's defects (F9: statements cannot be reused, get()
 * pins a snapshot) do not apply to it, so its statements stay prepared — a
 * read costs ~10-25 µs of CPU instead of ~170 µs (BENCHMARKS.md).
 * tests/replica.test.ts proves new bindings and later pulls are seen.
 */
import type { InArgs, ResultSet } from "@libsql/client";
import { LibsqlError } from "@libsql/core/api";
import type { WakeableSleeps } from "../busy-retry";
import { Connection, type NormalizedStmt } from "./connection";
import { clientClosedError, isBusyError } from "./libsql-errors";
import { AsyncMutex } from "./mutex";
import type { ResolvedOptions } from "./options";
import { ConnectionRetries } from "./retries";
import { scanSql } from "./sql-scan";

/** Reads whose answer is a property of the connection that runs them, not of the database. */
const CONNECTION_STATE = /\b(last_insert_rowid|changes|total_changes)\s*\(/i;
/** Bound of the per-SQL routing memo (cleared when full: a scan costs microseconds). */
const MEMO_SIZE = 1024;

export class ReadConnection {
  readonly #o: ResolvedOptions;
  readonly #retries: ConnectionRetries;
  readonly #mutex = new AsyncMutex();
  readonly #routes = new Map<string, boolean>();
  #conn: Connection | null = null;
  /** False for `:memory:`, a file not in WAL mode, a failed open, and once closed. */
  #usable: boolean;
  #closed = false;

  constructor(o: ResolvedOptions, sleeps: WakeableSleeps) {
    this.#o = { ...o, mustExist: true, sync: undefined };
    this.#usable = !o.memory;
    this.#retries = new ConnectionRetries(o.retry, sleeps, (conn) => this.#drop(conn));
  }

  /**
   * May `sql` run here: one statement that only reads, and whose answer does
   * not depend on the write connection's own state (last_insert_rowid() …)?
   * Memoized per SQL text; asked only while the write connection is held.
   */
  routes(sql: string): boolean {
    if (!this.#usable || typeof sql !== "string") return false;
    let r = this.#routes.get(sql);
    if (r === undefined) {
      const info = scanSql(sql);
      r = info.kind === "read" && !info.multipleStatements && !CONNECTION_STATE.test(sql);
      if (this.#routes.size >= MEMO_SIZE) this.#routes.clear();
      this.#routes.set(sql, r);
    }
    return r;
  }

  /** True if every statement of a batch {@link routes}. */
  routesAll(stmts: NormalizedStmt[]): boolean {
    if (stmts.length === 0) return false;
    for (const s of stmts) if (!this.routes(s.sql)) return false;
    return true;
  }

  /**
   * Opens the connection if needed; false when reads cannot go here (then
   * they queue for the write connection, as before). A failed open is not
   * retried until the client reconnects: queueing is always correct.
   */
  ready(): boolean {
    if (this.#conn !== null) return true;
    if (!this.#usable) return false;
    try {
      this.#conn = this.#open();
    } catch {
      this.#usable = false;
    }
    return this.#conn !== null;
  }

  #open(): Connection {
    const conn = new Connection(this.#o, true);
    try {
      const row = conn.db.prepare("PRAGMA journal_mode").raw(true).get([]) as unknown[] | undefined;
      if (String(row?.[0]).toLowerCase() !== "wal") throw new Error("not in WAL mode");
      conn.internal("PRAGMA query_only = 1");
      return conn;
    } catch (e) {
      conn.close();
      throw e;
    }
  }

  /** Runs one read (see {@link routes}; call {@link ready} first). */
  execute(sql: string, args: InArgs | undefined): Promise<ResultSet> {
    return this.#run((conn) => conn.run(sql, args));
  }

  /** Runs reads as one snapshot (BEGIN DEFERRED … COMMIT; the connection is query_only whatever the mode). */
  batch(stmts: NormalizedStmt[]): Promise<ResultSet[]> {
    return this.#run((conn) => conn.batch(stmts, "deferred"));
  }

  #run<T>(op: (conn: Connection) => T): Promise<T> {
    if (this.#mutex.locked) return this.#queued(op, undefined, undefined);
    let conn: Connection | undefined;
    try {
      conn = this.#current();
      return Promise.resolve(op(conn));
    } catch (e) {
      if (conn !== undefined && this.#o.retry !== null && isBusyError(e)) return this.#queued(op, conn, e);
      return Promise.reject(e);
    }
  }

  /**
   * While a read is being retried on SQLITE_BUSY (another process is
   * recovering the WAL or holds the file exclusively), later reads wait for
   * it in call order. `conn`/`first`: the attempt that already failed (the
   * retry must re-run that same statement object: F1).
   */
  async #queued<T>(op: (conn: Connection) => T, conn: Connection | undefined, first: unknown): Promise<T> {
    const t = this.#o.lockTimeoutMs;
    await this.#mutex.acquire(
      t,
      () => new LibsqlError(`Waited more than ${t} ms for the read connection`, "CLIENT_LOCK_TIMEOUT"),
    );
    try {
      const c = conn ?? this.#current();
      return await this.#retries.run(c, () => op(c), true, first);
    } finally {
      this.#mutex.release();
    }
  }

  #current(): Connection {
    if (this.#closed) throw clientClosedError();
    if (this.#conn === null) this.#conn = this.#open();
    return this.#conn;
  }

  /** Retries gave up on `conn` (its failed statement stays active: F1): the next read opens a fresh one. */
  #drop(conn: Connection): void {
    if (conn !== this.#conn) return;
    this.#conn = null;
    try {
      conn.close();
    } catch {
      /* unusable anyway */
    }
  }

  /** Drops cached statements (after migrations or a script changed the schema). */
  clearCache(): void {
    this.#conn?.clearCache();
  }

  /** Closes the connection; reads waiting for it reject with `reason`, later ones are not routed here. */
  close(reason: unknown): void {
    this.#closed = true;
    this.#usable = false;
    this.#mutex.close(reason);
    const conn = this.#conn;
    this.#conn = null;
    conn?.close();
  }

  /** @internal The native handle, when open (tests check its settings). */
  get native(): Connection["db"] | null {
    return this.#conn?.db ?? null;
  }
}
