/** The statement engine's shared types (no code): what a statement runs on, and what a compiled one is. */
import type { InStatement, ResultSet, TransactionMode } from "@libsql/client";

/** What a column (or SQL) decoder / encoder is, as far as the engine cares. */
export interface Decoder {
  mapFromDriverValue(v: unknown): unknown;
}
export interface Encoder {
  mapToDriverValue(v: unknown): unknown;
}

/** Where a compiled statement runs: the libSQL client, or the transaction the executor is bound to. */
export interface ExecTarget {
  execute(stmt: InStatement): Promise<ResultSet>;
  batch(stmts: InStatement[], mode?: TransactionMode): Promise<ResultSet[]>;
}

/** Where Drizzle's libsql session (of a database or a transaction) sends statements. */
export interface ExecBinding {
  client: ExecTarget;
  /** Set inside a transaction: statements (and batches) go through it. */
  tx: ExecTarget | undefined;
}

/** A parameter of the statement: a constant, a named placeholder, or a placeholder through a column encoder. */
export type Slot = { k: 0; v: unknown } | { k: 1; name: string } | { k: 2; name: string; enc: Encoder };

/**
 * What a compiled statement is, independent of the connection it runs on:
 * the SQL text, the argument slots and the row decoders. Shared by every
 * repository instance of a class (see StatementCache), so a second database
 * or a `db.transaction` scope does no query building at all.
 */
export interface QueryTemplate {
  readonly sql: string;
  readonly slots: readonly Slot[];
  /** Result keys and decoders; null for a statement without result fields (no RETURNING: only run()). */
  readonly keys: readonly string[] | null;
  readonly decoders: readonly (Decoder | null)[] | null;
}
