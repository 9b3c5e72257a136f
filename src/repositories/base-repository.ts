import { eq, sql } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable, SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import type { LibSQLDatabase } from "drizzle-orm/libsql";
import { mapDriverError, type ErrorContext } from "../driver/map-error";
import { NotFoundError } from "../errors";
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
}

/**
 * What every repository shares: its executor, a cache of prepared statements
 * (built on first use, so a hot call does no query building), and the mapping
 * of driver errors to typed ones.
 */
export abstract class BaseRepository {
  readonly #prepared = new Map<string, unknown>();

  constructor(
    protected readonly db: Executor,
    protected readonly options: RepositoryOptions = {},
  ) {}

  /** The prepared statement called `key`, built once per repository instance. */
  protected prepared<T>(key: string, build: () => T): T {
    let stmt = this.#prepared.get(key) as T | undefined;
    if (stmt === undefined) {
      stmt = build();
      this.#prepared.set(key, stmt);
    }
    return stmt;
  }

  /** Runs a query, mapping any driver error to a typed one. */
  protected async guard<T>(fn: () => Promise<T>, foreignKey?: ErrorContext["foreignKey"]): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw mapDriverError(err, { secret: this.options.secret, foreignKey });
    }
  }

  /**
   * `UPDATE table SET … WHERE id = :id RETURNING id` as one prepared
   * statement; NotFoundError (and nothing written) when the id does not exist.
   */
  protected async updateById<T extends SQLiteTable>(
    table: T,
    idColumn: SQLiteColumn,
    entity: string,
    key: string,
    set: SQLiteUpdateSetSource<T>,
    params: { id: number } & Record<string, unknown>,
  ): Promise<void> {
    const stmt = this.prepared(key, () =>
      (this.db as Database)
        .update(table)
        .set(set)
        .where(eq(idColumn, sql.placeholder("id")))
        .returning({ id: idColumn })
        .prepare(),
    );
    this.found(await this.guard(() => stmt.get(params)), entity, params.id);
  }

  /** Throws NotFoundError when an UPDATE … RETURNING touched no row. */
  protected found<T>(row: T | undefined, entity: string, id: number): T {
    if (row === undefined || row === null) throw new NotFoundError(entity, id);
    return row;
  }
}

/**
 * A named placeholder usable in `.set({ … })` of a prepared UPDATE. Drizzle's
 * `set()` types do not admit placeholders, but it binds them through the
 * column's encoder (Date → ms, JSON → text) like any value, which is what we want.
 */
export const slot = (name: string): never => sql.placeholder(name) as never;
