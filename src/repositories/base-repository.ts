import type { ResultSet } from "@libsql/client";
import { eq, sql } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable, SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import type { LibSQLDatabase } from "drizzle-orm/libsql";
import { mapDriverError, type ErrorContext } from "../errors";
import { NotFoundError } from "../errors";
import type * as schema from "../schema";
import { type CompiledQuery, type RowOf, StatementCache } from "./engine";

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
 * What every repository shares: its executor, a cache of compiled
 * statements (built with Drizzle on first use, so a hot call does no query
 * building and little per-call work), and the mapping of driver errors to
 * typed ones.
 */
export abstract class BaseRepository {
  readonly #statements: StatementCache;

  constructor(
    protected readonly db: Executor,
    protected readonly options: RepositoryOptions = {},
  ) {
    this.#statements = new StatementCache(this, db);
  }

  /**
   * The statement called `key`, built with Drizzle (`build` returns a
   * `.prepare()`d query) on first use and compiled: see {@link CompiledQuery}.
   * A key names one fixed statement of the repository class.
   */
  protected compiled<P>(key: string, build: () => P): CompiledQuery<RowOf<P>> {
    return this.#statements.get(key, build);
  }

  /** Awaits a started query, mapping any driver error to a typed one (no closure allocated). */
  protected async settle<T>(pending: Promise<T>, foreignKey?: ErrorContext["foreignKey"]): Promise<T> {
    try {
      return await pending;
    } catch (err) {
      throw mapDriverError(err, { secret: this.options.secret, foreignKey });
    }
  }

  /**
   * `UPDATE table SET … WHERE id = :id` as one compiled statement;
   * NotFoundError (and nothing written) when it changed no row. The count
   * comes from the driver's `rowsAffected` (every libSQL transport reports
   * it), so no RETURNING row has to be built, fetched and mapped.
   */
  protected async updateById<T extends SQLiteTable>(
    table: T,
    idColumn: SQLiteColumn,
    entity: string,
    key: string,
    set: SQLiteUpdateSetSource<T>,
    params: { id: number } & Record<string, unknown>,
  ): Promise<void> {
    const stmt = this.compiled(key, () =>
      (this.db as Database)
        .update(table)
        .set(set)
        .where(eq(idColumn, sql.placeholder("id")))
        .prepare(),
    );
    const rs = await this.settle(stmt.run(params));
    if (rs.rowsAffected === 0) throw new NotFoundError(entity, params.id);
  }

  /**
   * The row whose primary key is `id`, or `null` — every repository's `get`.
   * LIMIT 1 (a no-op on the primary key) lets the local driver fetch one row without a cursor.
   */
  protected async findById<T extends SQLiteTable>(
    table: T,
    idColumn: SQLiteColumn,
    id: number,
  ): Promise<T["$inferSelect"] | null> {
    const stmt = this.compiled("get", () =>
      (this.db as Database)
        .select()
        .from(table as SQLiteTable)
        .where(eq(idColumn, sql.placeholder("id")))
        .limit(1)
        .prepare(),
    );
    return ((await this.settle(stmt.get({ id }))) as T["$inferSelect"] | undefined) ?? null;
  }

  /** The id of the row an INSERT (run through `CompiledQuery.run`) created. */
  protected insertedId(rs: ResultSet): number {
    const id = rs.lastInsertRowid;
    if (id === undefined) throw new Error("rf-inferno-db: the driver did not report the inserted row's id");
    return Number(id);
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
