/** What a repository runs on: Drizzle's database, or one of its transactions (types only). */
import type { LibSQLDatabase } from "drizzle-orm/libsql";
import type * as schema from "../schema";

export type Schema = typeof schema;
/** The Drizzle database the repositories run on. */
export type Database = LibSQLDatabase<Schema>;
/** Drizzle's own transaction type, derived from its `transaction` callback. */
export type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];
/** Either: a repository works the same on the database and inside a transaction. */
export type Executor = Database | Transaction;

export interface RepositoryOptions {
  /** Scrubbed from every error message (the auth token). */
  secret?: string | undefined;
  /** Named by a StorageError: the file's path or the URL without credentials. */
  database?: string | undefined;
  /** Keys whose string values are stored as "***" in JSON configs (redact.ts); default DEFAULT_REDACT_KEYS. */
  redactKeys?: RegExp | undefined;
  /** Rows per statement when a list is read whole (paging.ts); default PAGE_ROWS.local. */
  pageRows?: number | undefined;
}
