import type { InArgs, InStatement, LibsqlError, ResultSet, Transaction, TransactionMode } from "@libsql/client";
import { type Connection, normalizeStmt } from "./connection";
import { clientClosedError, toBatchError, txClosedError } from "./libsql-errors";

/**
 * Interactive transaction on the client's connection. Its calls never
 * wait for the client's mutex (the transaction owns it) and are never
 * busy-retried ("write" already holds the write lock; for "deferred" a
 * retry could replay a statement after a partial transaction).
 */
export class LocalTransaction implements Transaction {
  readonly #conn: Connection;
  readonly #mode: TransactionMode;
  readonly #onFinish: () => void;
  #done = false;

  constructor(conn: Connection, mode: TransactionMode, onFinish: () => void) {
    this.#conn = conn;
    this.#mode = mode;
    this.#onFinish = onFinish;
  }

  get closed(): boolean {
    return this.#done;
  }

  #closedError(): LibsqlError {
    return this.#conn.closed ? clientClosedError() : txClosedError();
  }

  execute(stmt: InStatement): Promise<ResultSet>;
  execute(sql: string, args?: InArgs): Promise<ResultSet>;
  execute(stmtOrSql: InStatement, args?: InArgs): Promise<ResultSet> {
    if (this.#done) return Promise.reject(this.#closedError());
    const conn = this.#conn;
    try {
      const rs = typeof stmtOrSql === "string" ? conn.run(stmtOrSql, args) : conn.run(stmtOrSql.sql, stmtOrSql.args);
      if (conn.lastKind === "transaction") this.#checkEnded();
      return Promise.resolve(rs);
    } catch (e) {
      this.#checkEnded();
      return Promise.reject(e);
    }
  }

  async batch(stmts: Array<InStatement | [string, InArgs?]>): Promise<ResultSet[]> {
    const list = stmts.map(normalizeStmt);
    const out: ResultSet[] = [];
    for (let i = 0; i < list.length; i++) {
      if (this.#done) throw toBatchError(this.#closedError(), i);
      try {
        out.push(this.#conn.run(list[i]!.sql, list[i]!.args));
        if (this.#conn.lastKind === "transaction") this.#checkEnded();
      } catch (e) {
        this.#checkEnded();
        throw toBatchError(e, i);
      }
    }
    return out;
  }

  async executeMultiple(sql: string): Promise<void> {
    if (this.#done) throw this.#closedError();
    try {
      this.#conn.exec(sql);
    } finally {
      this.#conn.clearCache(sql);
      this.#checkEnded();
    }
  }

  async commit(): Promise<void> {
    if (this.#done) throw this.#closedError();
    try {
      this.#conn.internal("COMMIT");
    } finally {
      // A failed COMMIT (e.g. deferred FK violation, SQLITE_BUSY) leaves the
      // transaction open: the caller may retry or roll back.
      this.#checkEnded();
    }
  }

  /** No-op if already closed (so `catch { await tx.rollback() }` cannot mask the original error). */
  async rollback(): Promise<void> {
    if (this.#done) return;
    try {
      if (this.#conn.inTransaction) this.#conn.internal("ROLLBACK");
    } finally {
      this.#finish();
    }
  }

  /** Rolls back if still open; never throws (meant for `finally`). */
  close(): void {
    if (this.#done) return;
    this.#conn.rollbackQuietly();
    this.#finish();
  }

  /** @internal The client was closed under us: the connection (and its transaction) is gone. */
  abandon(): void {
    this.#done = true;
  }

  #checkEnded(): void {
    if (!this.#done && !this.#conn.inTransaction) this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#conn.endTransaction(this.#mode);
    this.#onFinish();
  }
}
