/**
 * Statements and results between `@libsql/client`'s types and Hrana's, for
 * the calls pipeline.ts sends itself — the same conversions, results and
 * errors `@libsql/client`'s http client makes (its own helpers are not
 * exported), so a call cannot tell which of the two sent it.
 * tests/remote/pipeline.test.ts compares both paths on every kind of result
 * and error. Web-safe; `@libsql/hrana-client` is loaded by the caller, only
 * when a pipeline is first sent.
 */
import type { InArgs, InStatement, ResultSet, Row, TransactionMode } from "@libsql/client";
import { LibsqlBatchError, LibsqlError } from "@libsql/core/api";
import { ResultSetImpl, transactionModeToBegin } from "@libsql/core/util";
import type * as Hrana from "@libsql/hrana-client";

export type HranaModule = typeof Hrana;

/** A statement as `execute`/`batch` accept it, normalized. */
export interface Statement {
  sql: string;
  args: InArgs | undefined;
}

export function normalize(s: InStatement | [string, InArgs?] | string, args?: InArgs): Statement {
  if (typeof s === "string") return { sql: s, args };
  if (Array.isArray(s)) return { sql: s[0], args: s[1] };
  return { sql: s.sql, args: s.args };
}

export function toHrana(h: HranaModule, s: Statement): Hrana.Stmt {
  const stmt = new h.Stmt(s.sql);
  if (s.args) {
    if (Array.isArray(s.args)) stmt.bindIndexes(s.args);
    else for (const [key, value] of Object.entries(s.args)) stmt.bindName(key, value);
  }
  return stmt;
}

/** `ResultSet` as `@libsql/client` builds it from Hrana rows (its own class). */
export function resultSet(r: Hrana.RowsResult): ResultSet {
  return new ResultSetImpl(
    r.columnNames.map((c) => c ?? ""),
    r.columnDecltypes.map((c) => c ?? ""),
    r.rows as unknown as Row[],
    r.affectedRowCount,
    r.lastInsertRowid,
  );
}

/** A Hrana error as `@libsql/client` reports it: a LibsqlError with the server's code. */
export function mapError(h: HranaModule, e: unknown): unknown {
  return e instanceof h.ClientError ? new LibsqlError(e.message, codeOf(h, e), undefined, undefined, e) : e;
}

function codeOf(h: HranaModule, e: Hrana.ClientError): string {
  if (e instanceof h.ResponseError && e.code !== undefined) return e.code;
  if (e instanceof h.ProtoError) return "HRANA_PROTO_ERROR";
  if (e instanceof h.ClosedError) return e.cause instanceof h.ClientError ? codeOf(h, e.cause) : "HRANA_CLOSED_ERROR";
  if (e instanceof h.WebSocketError) return "HRANA_WEBSOCKET_ERROR";
  if (e instanceof h.HttpServerError) return "SERVER_ERROR";
  if (e instanceof h.ProtocolVersionError) return "PROTOCOL_VERSION_ERROR";
  if (e instanceof h.InternalError) return "INTERNAL_ERROR";
  return "UNKNOWN";
}

/**
 * One atomic batch as steps of `batch` (not yet executed): BEGIN, each
 * statement only while the previous one succeeded (and the transaction is
 * still open), COMMIT, and ROLLBACK unless the commit succeeded — what
 * `@libsql/client` sends for `batch(stmts, mode)`. Returns the results once
 * `batch.execute()` has run.
 */
export function atomicBatch(
  h: HranaModule,
  batch: Hrana.Batch,
  version: number,
  mode: TransactionMode,
  stmts: Statement[],
): () => Promise<ResultSet[]> {
  const begin = batch.step();
  const beginDone = begin.run(transactionModeToBegin(mode));
  let last = begin;
  const results = stmts.map((s) => {
    const step = batch.step().condition(h.BatchCond.ok(last));
    if (version >= 3) step.condition(h.BatchCond.not(h.BatchCond.isAutocommit(batch)));
    last = step;
    return step.query(toHrana(h, s));
  });
  const commit = batch.step().condition(h.BatchCond.ok(last));
  if (version >= 3) commit.condition(h.BatchCond.not(h.BatchCond.isAutocommit(batch)));
  const commitDone = commit.run("COMMIT");
  batch
    .step()
    .condition(h.BatchCond.not(h.BatchCond.ok(commit)))
    .run("ROLLBACK")
    .catch(() => undefined);
  return async () => {
    await beginDone;
    const out: ResultSet[] = [];
    for (let i = 0; i < results.length; i++) {
      let rows: Hrana.RowsResult | undefined;
      try {
        rows = await results[i];
      } catch (e) {
        const mapped = mapError(h, e);
        if (mapped instanceof LibsqlError) {
          throw new LibsqlBatchError(
            mapped.message,
            i,
            mapped.code,
            mapped.extendedCode,
            mapped.rawCode,
            mapped.cause instanceof Error ? mapped.cause : undefined,
          );
        }
        throw mapped;
      }
      if (rows === undefined) {
        throw new LibsqlBatchError(
          "Statement in a batch was not executed, probably because the transaction has been rolled back",
          i,
          "TRANSACTION_CLOSED",
        );
      }
      out.push(resultSet(rows));
    }
    await commitDone;
    return out;
  };
}
