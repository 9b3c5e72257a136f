/**
 * LocalClient: the `Client` Drizzle talks to for a local file or `:memory:`
 * (why it exists: index.ts). It decides who uses the write connection when —
 * the fast path on the calling tick, the FIFO mutex for transactions and
 * batches, busy retries under the shared policy (retries.ts), reads sent
 * while it is held (read-connection.ts) — and leaves the work to Connection.
 */
import { LibsqlError } from "@libsql/core/api";
import type { Client, InArgs, InStatement, Replicated, ResultSet, Transaction, TransactionMode } from "@libsql/client";
import { WakeableSleeps } from "../busy-retry";
import { checkMode, Connection, normalizeStmt } from "./connection";
import { EventLoopBudget, nextTurn } from "./event-loop-budget";
import { clientClosedError, isBusyError } from "./libsql-errors";
import { AsyncMutex } from "./mutex";
import {
  type EffectiveOptions,
  effectiveOptions,
  type LocalClientOptions,
  type ResolvedOptions,
  resolveOptions,
} from "./options";
import { ReadConnection } from "./read-connection";
import { ConnectionRetries } from "./retries";
import { LocalTransaction } from "./transaction";

/**
 * The client. All methods return promises (the work itself is synchronous
 * and done on the calling tick when the connection is free). ONE write
 * connection per client: interactive transactions and batches take a FIFO
 * async mutex that every other call waits for — except reads, which then run
 * on the read connection (read-connection.ts).
 */
export class LocalClient implements Client {
  closed = false;
  readonly protocol = "file";
  readonly #o: ResolvedOptions;
  #conn: Connection;
  #mutex = new AsyncMutex();
  #tx: LocalTransaction | null = null;
  readonly #sleeps = new WakeableSleeps();
  readonly #retries: ConnectionRetries;
  /** Reads while the write connection is held (files in WAL mode): see read-connection.ts. */
  #reader: ReadConnection;
  /** An embedded replica: reads use the read connection even when the write connection is free. */
  readonly #replica: boolean;
  readonly #budget = new EventLoopBudget();
  /** A BEGIN issued through execute() (not transaction()) is open: no busy retries then. */
  #manualTx = false;

  constructor(options: LocalClientOptions) {
    this.#o = resolveOptions(options);
    this.#conn = new Connection(this.#o);
    this.#retries = new ConnectionRetries(this.#o.retry, this.#sleeps, (c) => this.#replaceBusyConnection(c));
    this.#reader = new ReadConnection(this.#o, this.#sleeps);
    this.#replica = this.#o.sync !== undefined;
  }

  /** The options in effect (defaults filled in). */
  get options(): EffectiveOptions {
    return effectiveOptions(this.#o);
  }

  /** True while a transaction, batch or busy retry holds the connection. */
  get busy(): boolean {
    return this.#mutex.locked;
  }

  execute(stmt: InStatement): Promise<ResultSet>;
  execute(sql: string, args?: InArgs): Promise<ResultSet>;
  execute(stmtOrSql: InStatement, args?: InArgs): Promise<ResultSet> {
    let sql: string;
    let a: InArgs | undefined;
    if (typeof stmtOrSql === "string") {
      sql = stmtOrSql;
      a = args;
    } else {
      sql = stmtOrSql.sql;
      a = stmtOrSql.args;
    }
    if (this.#mutex.locked || this.closed || this.#replica) return this.#offFastPath(sql, a);
    if (this.#budget.spent()) return nextTurn().then(() => this.execute(sql, a));
    // Fast path: connection free, run now on this tick.
    const conn = this.#conn;
    const retry = !this.#manualTx;
    try {
      const rs = conn.run(sql, a);
      if (conn.lastKind === "transaction") this.#manualTx = conn.inTransaction;
      return Promise.resolve(rs);
    } catch (e) {
      if (conn.lastKind === "transaction") this.#manualTx = conn.inTransaction;
      if (retry && this.#o.retry !== null && isBusyError(e)) return this.#executeQueued(sql, a, conn, e);
      return Promise.reject(e);
    }
  }

  /**
   * The write connection is held (or the client closed, or an embedded
   * replica: read-connection.ts says why its reads always go there): a read
   * goes to the read connection, the rest queues.
   */
  #offFastPath(sql: string, a: InArgs | undefined): Promise<ResultSet> {
    if (!this.#readsBeside() || !this.#reader.routes(sql) || !this.#reader.ready()) return this.#executeQueued(sql, a);
    if (this.#budget.spent()) return nextTurn().then(() => this.execute(sql, a));
    return this.#reader.execute(sql, a);
  }

  /** Reads may leave the write connection: not closed, no BEGIN of execute() open, no TEMP/ATTACH state there. */
  #readsBeside(): boolean {
    return !this.closed && !this.#manualTx && !this.#conn.localState;
  }

  #runTracked(conn: Connection, sql: string, a: InArgs | undefined): ResultSet {
    try {
      return conn.run(sql, a);
    } finally {
      if (conn.lastKind === "transaction") this.#manualTx = conn.inTransaction;
    }
  }

  /**
   * Waits for the connection (FIFO). `failed`: the fast path's attempt failed
   * with SQLITE_BUSY on `conn`; it is retried holding the connection, so later
   * calls stay in call order.
   */
  async #executeQueued(sql: string, a: InArgs | undefined, conn?: Connection, failed?: unknown): Promise<ResultSet> {
    const m = await this.#lock();
    try {
      const c = conn ?? this.#conn;
      const retry = conn !== undefined || !this.#manualTx;
      return await this.#retries.run(c, () => this.#runTracked(c, sql, a), retry, failed);
    } finally {
      m.release();
    }
  }

  /** Waits for the connection (FIFO). Returns the mutex to release (it is replaced on reconnect). */
  async #lock(): Promise<AsyncMutex> {
    if (this.closed) throw clientClosedError();
    const m = this.#mutex;
    const t = this.#o.lockTimeoutMs;
    await m.acquire(
      t,
      () =>
        new LibsqlError(
          `Waited more than ${t} ms for the connection held by a transaction or batch of this client (calling the client instead of the transaction object inside a transaction deadlocks)`,
          "CLIENT_LOCK_TIMEOUT",
        ),
    );
    // Hand-offs between waiters are promise resolutions, so a queue of
    // transactions would otherwise run as one long microtask chain.
    if (this.#budget.spent()) {
      await nextTurn();
      if (this.closed) {
        m.release();
        throw clientClosedError();
      }
    }
    return m;
  }

  /**
   * Retries gave up on SQLITE_BUSY: the failed statement stays active inside
   * libsql and would make every later COMMIT fail (F1, retries.ts), so a fresh
   * connection replaces this one. Files only: `:memory:` has no other writer.
   */
  #replaceBusyConnection(conn: Connection): void {
    if (this.#o.memory || conn !== this.#conn || conn.closed || conn.inTransaction) return;
    try {
      this.#conn = new Connection(this.#o, true);
    } catch {
      return; // keep the old one; the next call reports what is wrong
    }
    try {
      conn.close();
    } catch {
      /* the old connection is unusable anyway */
    }
  }

  async batch(stmts: Array<InStatement | [string, InArgs?]>, mode: TransactionMode = "deferred"): Promise<ResultSet[]> {
    checkMode(mode);
    const list = stmts.map(normalizeStmt);
    // Only reads, while the write connection is held (or on a replica): one snapshot on the read connection.
    if (
      (this.#mutex.locked || this.#replica) &&
      this.#readsBeside() &&
      this.#reader.routesAll(list) &&
      this.#reader.ready()
    )
      return this.#reader.batch(list);
    const m = await this.#lock();
    try {
      const conn = this.#conn;
      // A failed batch was rolled back, so replaying it whole is safe.
      return await this.#retries.run(conn, () => conn.batch(list, mode), !this.#manualTx);
    } finally {
      m.release();
    }
  }

  /** Like batch("deferred") with foreign keys off (around the transaction, where the PRAGMA has effect). */
  async migrate(stmts: InStatement[]): Promise<ResultSet[]> {
    const list = stmts.map(normalizeStmt);
    const m = await this.#lock();
    const conn = this.#conn;
    try {
      conn.internal("PRAGMA foreign_keys = OFF");
      return await this.#retries.run(conn, () => conn.batch(list, "deferred"), !this.#manualTx);
    } finally {
      try {
        if (!conn.closed) conn.internal("PRAGMA foreign_keys = ON");
      } catch {
        /* ignore */
      }
      conn.clearCache();
      this.#reader.clearCache();
      m.release();
    }
  }

  /**
   * Starts an interactive transaction; every other call on this client
   * waits until it is committed, rolled back or closed — except reads,
   * which meanwhile run on the read connection (files in WAL mode) and see
   * the state before the transaction. Default mode
   * "write" (BEGIN IMMEDIATE), as `@libsql/client` (Drizzle passes none).
   */
  async transaction(mode: TransactionMode = "write"): Promise<Transaction> {
    checkMode(mode);
    const m = await this.#lock();
    const conn = this.#conn;
    try {
      await this.#retries.run(conn, () => conn.begin(mode), !this.#manualTx);
    } catch (e) {
      m.release();
      throw e;
    }
    const tx: LocalTransaction = new LocalTransaction(conn, mode, () => {
      if (this.#tx === tx) this.#tx = null;
      m.release();
    });
    this.#tx = tx;
    return tx;
  }

  /**
   * Runs a script (no busy retries: part of it may already have been
   * applied). As in `@libsql/client`, a transaction the script leaves open
   * is rolled back.
   */
  async executeMultiple(sql: string): Promise<void> {
    const m = await this.#lock();
    const conn = this.#conn;
    try {
      conn.exec(sql);
    } finally {
      conn.rollbackQuietly();
      this.#manualTx = false;
      conn.clearCache(sql);
      this.#reader.clearCache();
      m.release();
    }
  }

  /**
   * Embedded replica (`sync` option): pulls the primary's new frames into the
   * local file. Waits for a transaction of this client to end. The native
   * call is synchronous: the event loop waits for the pull (as with
   * `@libsql/client`). Any other client: SYNC_NOT_SUPPORTED.
   */
  async sync(): Promise<Replicated> {
    if (this.#o.sync === undefined) {
      throw new LibsqlError("sync() needs an embedded replica (open with the sync option)", "SYNC_NOT_SUPPORTED");
    }
    const m = await this.#lock();
    try {
      return this.#conn.pull();
    } finally {
      m.release();
    }
  }

  /**
   * Closes the connections (the read connection too); pending and later calls
   * fail with CLIENT_CLOSED, an open transaction is rolled back. (The file
   * handles go when libsql's statements are collected: Connection.close.)
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#shutdown(clientClosedError());
  }

  #shutdown(reason: unknown): void {
    this.#mutex.close(reason);
    const tx = this.#tx;
    this.#tx = null;
    tx?.abandon();
    this.#sleeps.wakeAll();
    this.#manualTx = false;
    this.#reader.close(reason);
    this.#conn.close();
  }

  /** Closes (if open) and opens a new connection. A `:memory:` database starts empty again. */
  reconnect(): void {
    if (!this.closed) {
      this.closed = true;
      this.#shutdown(new LibsqlError("The client was reconnected", "CLIENT_CLOSED"));
    }
    this.#conn = new Connection(this.#o);
    this.#reader = new ReadConnection(this.#o, this.#sleeps);
    this.#mutex = new AsyncMutex();
    this.closed = false;
  }

  /** @internal The read connection's native handle, once opened (tests check its settings). */
  get readConnection(): Connection["db"] | null {
    return this.#reader.native;
  }

  /** @internal Number of cached prepared statements (tests). */
  get cachedStatements(): number {
    return this.#conn.cachedStatements;
  }
}
