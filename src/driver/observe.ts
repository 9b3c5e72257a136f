/**
 * Seeing every statement: the `logger` option and OpenTelemetry spans.
 *
 * The wrapper sits at the `Client` seam, outermost (above busy retries and
 * the remote bounds), so it sees exactly what Drizzle, the repositories'
 * compiled statements, the migrator and `db.client` send — one event per
 * statement, a statement's retries included in its duration:
 *
 * - `execute` → one event;
 * - `batch` / `migrate` → one event per statement, each with the batch's
 *   duration (it is one atomic unit, one request remotely) and rows from its
 *   own result; on failure every statement gets the error (nothing of the
 *   batch was applied);
 * - `transaction()` → `BEGIN`, then each statement, then `COMMIT` or `ROLLBACK`;
 * - `executeMultiple` → one event with the script.
 *
 * Arguments are never logged (they may hold configs with secrets); an error
 * is logged as the package's typed error, with the auth token scrubbed. A
 * logger that throws (or returns a rejected promise) is ignored: it must
 * never change the outcome of the call.
 *
 * Not wrapped at all when there is neither a logger nor a tracer: no cost.
 *
 * Web-safe: the tracer is passed in (the Node entry loads
 * `@opentelemetry/api` when it is installed; see tracing.ts).
 */
import type { Client, InArgs, InStatement, Replicated, ResultSet, Transaction, TransactionMode } from "@libsql/client";
import { mapDriverError } from "../errors";
import type { Tracing } from "./tracing";

/** One statement, as the `logger` option receives it. */
export interface StatementEvent {
  /** The SQL text (never the arguments). */
  sql: string;
  /** Wall time of the call, ms (for a batch: of the whole batch). */
  durationMs: number;
  /** Rows returned (0 for a write without RETURNING). */
  rows: number;
  /** Rows written, for INSERT/UPDATE/DELETE. */
  rowsAffected?: number;
  /** The typed error (auth token scrubbed) when the statement failed. */
  error?: Error;
}

export interface ObserveOptions {
  logger?: ((event: StatementEvent) => unknown) | undefined;
  tracing?: Tracing | undefined;
  /** Scrubbed from logged errors. */
  secret?: string | undefined;
}

type Sent = InStatement | [string, InArgs?] | string;
const sqlOf = (s: Sent): string => (typeof s === "string" ? s : Array.isArray(s) ? s[0] : s.sql);

/** What observing costs nothing to set up per call: the sinks, bound once. */
class Sinks {
  constructor(readonly o: ObserveOptions) {}

  /** Reports statements that ran together (one or a batch), with their results or the error. */
  report(sqls: string[], t0: number, results: ResultSet[] | undefined, err: unknown, span: unknown): void {
    const durationMs = performance.now() - t0;
    const error = err === undefined ? undefined : mapDriverError(err, { secret: this.o.secret });
    if (span !== undefined) this.o.tracing!.end(span, results, error);
    const logger = this.o.logger;
    if (logger === undefined) return;
    for (let i = 0; i < sqls.length; i++) {
      const rs = results?.[i];
      const event: StatementEvent = { sql: sqls[i]!, durationMs, rows: rs ? rs.rows.length : 0 };
      if (rs?.rowsAffected) event.rowsAffected = rs.rowsAffected;
      if (error) event.error = error;
      try {
        const r = logger(event);
        if (r && typeof (r as Promise<unknown>).then === "function") (r as Promise<unknown>).then(undefined, ignore);
      } catch {
        // A logger must never change the outcome of the call.
      }
    }
  }

  /** Runs `op` (one statement or a batch of `sqls`) and reports it. */
  run<T>(
    sqls: string[],
    op: () => Promise<T>,
    toResults: (v: T) => ResultSet[] | undefined,
    batch: boolean,
  ): Promise<T> {
    const span = this.o.tracing?.start(sqls, batch);
    const t0 = performance.now();
    let p: Promise<T>;
    try {
      p = op();
    } catch (err) {
      p = Promise.reject(err);
    }
    return p.then(
      (v) => {
        this.report(sqls, t0, toResults(v), undefined, span);
        return v;
      },
      (err: unknown) => {
        this.report(sqls, t0, undefined, err, span);
        throw err;
      },
    );
  }
}

function ignore(): void {}
const one = (rs: ResultSet): ResultSet[] => [rs];
const many = (rs: ResultSet[]): ResultSet[] => rs;
const none = (): undefined => undefined;

/** A client that reports every statement to the logger and/or tracer; `client` itself when there is neither. */
export function observeClient(client: Client, o: ObserveOptions): Client {
  if (o.logger === undefined && o.tracing === undefined) return client;
  return new ObservedClient(client, new Sinks(o));
}

class ObservedClient implements Client {
  constructor(
    readonly inner: Client,
    readonly sinks: Sinks,
  ) {}

  get closed(): boolean {
    return this.inner.closed;
  }

  get protocol(): string {
    return this.inner.protocol;
  }

  execute(stmt: InStatement): Promise<ResultSet>;
  execute(sql: string, args?: InArgs): Promise<ResultSet>;
  execute(stmtOrSql: InStatement | string, args?: InArgs): Promise<ResultSet> {
    const inner = this.inner;
    return this.sinks.run(
      [sqlOf(stmtOrSql)],
      () => (typeof stmtOrSql === "string" ? inner.execute(stmtOrSql, args) : inner.execute(stmtOrSql)),
      one,
      false,
    );
  }

  batch(stmts: Array<InStatement | [string, InArgs?]>, mode?: TransactionMode): Promise<ResultSet[]> {
    return this.sinks.run(stmts.map(sqlOf), () => this.inner.batch(stmts, mode), many, true);
  }

  migrate(stmts: InStatement[]): Promise<ResultSet[]> {
    return this.sinks.run(stmts.map(sqlOf), () => this.inner.migrate(stmts), many, true);
  }

  async transaction(mode?: TransactionMode): Promise<Transaction> {
    const tx = await this.sinks.run(["BEGIN"], () => this.inner.transaction(mode), none, false);
    return new ObservedTransaction(tx, this.sinks);
  }

  executeMultiple(sql: string): Promise<void> {
    return this.sinks.run([sql], () => this.inner.executeMultiple(sql), none, false);
  }

  sync(): Promise<Replicated> {
    return this.inner.sync();
  }

  close(): void {
    this.inner.close();
  }

  reconnect(): void {
    this.inner.reconnect();
  }
}

class ObservedTransaction implements Transaction {
  constructor(
    readonly inner: Transaction,
    readonly sinks: Sinks,
  ) {}

  get closed(): boolean {
    return this.inner.closed;
  }

  execute(stmt: InStatement): Promise<ResultSet> {
    return this.sinks.run([sqlOf(stmt)], () => this.inner.execute(stmt), one, false);
  }

  batch(stmts: InStatement[]): Promise<ResultSet[]> {
    return this.sinks.run(stmts.map(sqlOf), () => this.inner.batch(stmts), many, true);
  }

  executeMultiple(sql: string): Promise<void> {
    return this.sinks.run([sql], () => this.inner.executeMultiple(sql), none, false);
  }

  commit(): Promise<void> {
    return this.sinks.run(["COMMIT"], () => this.inner.commit(), none, false);
  }

  rollback(): Promise<void> {
    return this.sinks.run(["ROLLBACK"], () => this.inner.rollback(), none, false);
  }

  close(): void {
    this.inner.close();
  }
}
