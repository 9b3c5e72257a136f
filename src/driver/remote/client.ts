/**
 * RemoteClient: `@libsql/client`'s remote client (http or ws) with what it
 * lacks — a bound on every call (`requestTimeoutMs`), `close()` ending the
 * calls in flight, and the server's value-size limit checked before sending.
 * Everything else is the wrapped client's.
 *
 * Over ws one connection carries every call, and Hrana has no way to cancel
 * a request: a call that timed out leaves the connection suspect (half-open
 * after a NAT forgot it, a frozen server). The client is then replaced by a
 * fresh one — the next call connects again — and the old one closed, which
 * fails the calls still waiting on it (they would most likely time out too).
 */
import type { Client, InArgs, InStatement, Replicated, ResultSet, Transaction, TransactionMode } from "@libsql/client";
import { ConnectionError } from "../../errors";
import { InFlight } from "./deadline";
import type { FetchAborts } from "./fetch";
import { checkStatement } from "./limits";

export interface RemoteClientParts {
  /** Makes the underlying client (again, after a ws connection was dropped). */
  create: () => Client;
  /** Bound on every call, ms. */
  requestTimeoutMs: number;
  /** The http fetch hook's requests (aborted at close); absent for ws. */
  aborts?: FetchAborts;
  /** True for ws: a timed-out call replaces the connection. */
  replaceOnTimeout: boolean;
}

export class RemoteClient implements Client {
  #inner: Client;
  #inFlight: InFlight;
  readonly #parts: RemoteClientParts;
  readonly protocol: string;

  constructor(parts: RemoteClientParts) {
    this.#parts = parts;
    this.#inner = parts.create();
    this.#inFlight = new InFlight(parts.requestTimeoutMs);
    this.protocol = this.#inner.protocol;
  }

  get closed(): boolean {
    return this.#inFlight.closed;
  }

  /** Runs `op` on the current underlying client, bounded (deadline.ts). */
  #bounded<T>(op: (c: Client) => Promise<T>): Promise<T> {
    const inner = this.#inner;
    return this.#inFlight.run(
      () => op(inner),
      () => this.#dropConnection(inner),
    );
  }

  /** After a timeout over ws: the next call gets a new connection; the old one is closed. */
  #dropConnection(inner: Client): void {
    if (!this.#parts.replaceOnTimeout || this.#inner !== inner || this.closed) return;
    try {
      this.#inner = this.#parts.create();
    } catch {
      return; // keep the old one; the next call reports what is wrong
    }
    try {
      inner.close();
    } catch {
      /* already broken */
    }
  }

  execute(stmt: InStatement): Promise<ResultSet>;
  execute(sql: string, args?: InArgs): Promise<ResultSet>;
  execute(stmtOrSql: InStatement | string, args?: InArgs): Promise<ResultSet> {
    try {
      checkStatement(stmtOrSql, args);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#bounded((c) => (typeof stmtOrSql === "string" ? c.execute(stmtOrSql, args) : c.execute(stmtOrSql)));
  }

  batch(stmts: Array<InStatement | [string, InArgs?]>, mode?: TransactionMode): Promise<ResultSet[]> {
    try {
      for (const s of stmts) checkStatement(s);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#bounded((c) => c.batch(stmts, mode));
  }

  migrate(stmts: InStatement[]): Promise<ResultSet[]> {
    try {
      for (const s of stmts) checkStatement(s);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#bounded((c) => c.migrate(stmts));
  }

  async transaction(mode?: TransactionMode): Promise<Transaction> {
    const inner = this.#inner;
    const inFlight = this.#inFlight;
    const tx = await this.#bounded((c) => c.transaction(mode));
    return new RemoteTransaction(tx, (op) => inFlight.run(op, () => this.#dropConnection(inner)));
  }

  executeMultiple(sql: string): Promise<void> {
    return this.#bounded((c) => c.executeMultiple(sql));
  }

  sync(): Promise<Replicated> {
    return this.#bounded((c) => c.sync());
  }

  /** Rejects every call in flight with `ConnectionError`, aborts their requests, closes the connection. */
  close(): void {
    if (this.closed) return;
    this.#inFlight.close();
    this.#parts.aborts?.abortAll(
      new ConnectionError("the database was closed while the call was in flight; it was abandoned"),
    );
    this.#inner.close();
  }

  /** Drops the connection (ending the calls in flight, as `close()`) and starts afresh. */
  reconnect(): void {
    this.close();
    this.#inner = this.#parts.create();
    this.#inFlight = new InFlight(this.#parts.requestTimeoutMs);
  }
}

/** A transaction whose every request is bounded like the client's calls. */
class RemoteTransaction implements Transaction {
  constructor(
    readonly inner: Transaction,
    readonly run: <T>(op: () => Promise<T>) => Promise<T>,
  ) {}

  execute(stmt: InStatement): Promise<ResultSet> {
    try {
      checkStatement(stmt);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.run(() => this.inner.execute(stmt));
  }

  batch(stmts: InStatement[]): Promise<ResultSet[]> {
    try {
      for (const s of stmts) checkStatement(s);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.run(() => this.inner.batch(stmts));
  }

  executeMultiple(sql: string): Promise<void> {
    return this.run(() => this.inner.executeMultiple(sql));
  }

  rollback(): Promise<void> {
    return this.run(() => this.inner.rollback());
  }

  commit(): Promise<void> {
    return this.run(() => this.inner.commit());
  }

  close(): void {
    this.inner.close();
  }

  get closed(): boolean {
    return this.inner.closed;
  }
}
