import type { ResultSet } from "@libsql/client";
import { and, eq, inArray, type Placeholder, type SQL, sql } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable, SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import { type ErrorContext, InvalidTransitionError, mapDriverError, NotFoundError } from "../errors";
import { rowColumns } from "../schema";
import * as v from "../validate";
import { type CompiledQuery, type RowOf, StatementHolder } from "./engine";
import type { Entity, RowOfEntity } from "./entity";
import type { Database } from "./executor";
import type { Fields, InputSpec } from "./input";
import { redactFields } from "./redact";
import { PAGE_ROWS, type PageOptions, readPages } from "./paging";
import { updateOf } from "./update";

export type { Database, Executor, RepositoryOptions, Schema, Transaction } from "./executor";

/**
 * What every repository shares: its executor and entity, a cache of compiled
 * statements (built with Drizzle on first use, so a hot call does no query
 * building and little per-call work), the mapping of driver errors to typed
 * ones, `get(id)`, and the UPDATE-by-id every setter is.
 *
 * Adding a statement to a repository: give it a key unique in the class and
 * build it with Drizzle inside `compiled`, with `sql.placeholder("name")` (or
 * `slot("name")` inside `.set()`) for every value; run it with
 * `.get/.all/.run({ name: value })` inside `settle`:
 * @example
 * const stmt = this.compiled("listFailed", () =>
 *   this.db.select().from(pipelines).where(and(eq(pipelines.experimentId, p("eid")), eq(pipelines.status, "failed"))).prepare());
 * return this.settle(stmt.all({ eid }));
 */
export abstract class BaseRepository<E extends Entity = Entity> extends StatementHolder {
  /** The entity this repository stores (see entity.ts). */
  protected abstract readonly entity: E;

  /**
   * The row, or `null`.
   * @example const pl = await db.pipelines.get(pipelineId); pl?.status
   */
  async get(id: number): Promise<RowOfEntity<E> | null> {
    const rowId = v.id(id, this.entity.idField);
    // LIMIT 1 (a no-op on the primary key) lets the local driver fetch one row without a cursor.
    const stmt = this.rows("get", () => ({ where: eq(this.entity.id, sql.placeholder("id")), limit: 1 }));
    return (await this.settle(stmt.get({ id: rowId }))) ?? null;
  }

  /**
   * `SELECT <every column> FROM <entity> [WHERE …] [ORDER BY …] [LIMIT …]`
   * as the compiled statement `key` (`query` runs only when it is first built).
   * @example const stmt = this.rows("list", () => ({ where: eq(pipelines.experimentId, p("eid")), orderBy: asc(pipelines.pipelineId) }));
   */
  protected rows(
    key: string,
    query: () => { where?: SQL; orderBy?: SQL | SQLiteColumn; limit?: number | Placeholder },
  ): CompiledQuery<RowOfEntity<E>> {
    return this.compiled(key, () => {
      const { where, orderBy, limit } = query();
      let q = (this.db as Database)
        .select(rowColumns(this.entity.table as SQLiteTable))
        .from(this.entity.table as SQLiteTable)
        .$dynamic();
      if (where) q = q.where(where);
      if (orderBy) q = q.orderBy(orderBy);
      if (limit !== undefined) q = q.limit(limit);
      return q.prepare();
    }) as CompiledQuery<RowOfEntity<E>>;
  }

  /**
   * The statement called `key`, built with Drizzle (`build` returns a
   * `.prepare()`d query) on first use and compiled: see {@link CompiledQuery}.
   * A key names one fixed statement of the repository class.
   */
  protected compiled<P>(key: string, build: () => P): CompiledQuery<RowOf<P>> {
    return this.statements.get(key, build);
  }

  /**
   * A list read in keyset pages (paging.ts): `fetch(bound, n)` runs the
   * list's statement for ids from `bound` on (to `bound`, descending), at most
   * `n` rows; `page` is the caller's `{ limit, afterId }`, already checked.
   */
  protected paged<T>(
    page: PageOptions,
    order: "asc" | "desc",
    idOf: (row: T) => number,
    fetch: (bound: number, n: number) => Promise<T[]>,
  ): Promise<T[]> {
    return readPages(page, this.options.pageRows ?? PAGE_ROWS.local, order, idOf, (bound, n) =>
      this.settle(fetch(bound, n)),
    );
  }

  /** Awaits a started query, mapping any driver error to a typed one (no closure allocated). */
  protected async settle<T>(pending: Promise<T>, foreignKey?: ErrorContext["foreignKey"]): Promise<T> {
    try {
      return await pending;
    } catch (err) {
      throw mapDriverError(err, { secret: this.options.secret, database: this.options.database, foreignKey });
    }
  }

  /**
   * `UPDATE <entity> SET <set()> WHERE id = :id` (through `updateOf`) as the
   * compiled statement `key` (`set` runs only when it is first built);
   * NotFoundError (and nothing written) when it
   * changed no row. The count comes from the driver's `rowsAffected` (every
   * libSQL transport reports it), so no RETURNING row is built and fetched.
   */
  protected async updateById(
    key: string,
    set: () => SQLiteUpdateSetSource<E["table"]>,
    params: { id: number } & Record<string, unknown>,
  ): Promise<void> {
    const { table, id } = this.entity;
    const stmt = this.compiled(key, () =>
      updateOf(this.db, table, set())
        .where(eq(id, sql.placeholder("id")))
        .prepare(),
    );
    const rs = await this.settle(stmt.run(params));
    if (rs.rowsAffected === 0) throw new NotFoundError(this.entity.name, params.id);
  }

  /**
   * INSERT of an input spec's fields (input.ts) as the compiled statement
   * `create`; returns the new row's id — the driver's `lastInsertRowid`, so
   * no RETURNING row is built and fetched. `overrides` replaces a field's
   * placeholder (see `InputSpec.placeholders`). Secrets in JSON fields are
   * redacted here (redact.ts), so no entity's create can forget it.
   */
  protected async insert(
    spec: Pick<InputSpec<Fields>, "placeholders" | "jsonFields">,
    values: Record<string, unknown>,
    foreignKey?: ErrorContext["foreignKey"],
    overrides?: Record<string, unknown>,
  ): Promise<number> {
    const stmt = this.compiled("create", () =>
      (this.db as Database).insert(this.entity.table).values(spec.placeholders(overrides)).prepare(),
    );
    const stored = redactFields(spec, values, this.options.redactKeys);
    return this.insertedId(await this.settle(stmt.run(stored), foreignKey));
  }

  /** The id of the row an INSERT (run through `CompiledQuery.run`) created. */
  protected insertedId(rs: ResultSet): number {
    const id = rs.lastInsertRowid;
    if (id === undefined) throw new Error("rf-inferno-db: the driver did not report the inserted row's id");
    return Number(id);
  }

  /**
   * Moves row `id` to status `to` from one of `from` — a set the entity's
   * transition table allows — writing `set()` as well, in ONE conditional
   * UPDATE (`WHERE id = :id AND status IN (from)`) compiled as `key`. When it
   * changes nothing, one more read tells why: NotFoundError; the row already
   * has `to` → a no-op (nothing written, not even `updatedAt`); otherwise
   * InvalidTransitionError. `values` binds the placeholders of `set()`.
   */
  protected async move(
    key: string,
    id: number,
    to: string,
    from: readonly string[],
    set: () => Record<string, unknown> = () => ({}),
    values: Record<string, unknown> = {},
  ): Promise<void> {
    const { table, status } = this.entity;
    if (from.length > 0) {
      const stmt = this.compiled(key, () =>
        updateOf(this.db, table, { ...set(), status: to } as SQLiteUpdateSetSource<E["table"]>)
          .where(and(eq(this.entity.id, sql.placeholder("id")), inArray(status, from as string[])))
          .prepare(),
      );
      const rs = await this.settle(stmt.run({ ...values, id }));
      if (rs.rowsAffected > 0) return;
    } // else no status leads to `to` (an experiment's `running`): only the read below
    const row = await this.refusal(id);
    if (row.status !== to) throw new InvalidTransitionError(this.entity.name, id, row.status, to);
  }

  /**
   * After a conditional UPDATE changed nothing: the row's status (and, where
   * the entity has them, its lease owner and claimant), or NotFoundError.
   */
  protected async refusal(id: number): Promise<{ status: string; leaseOwner?: unknown; actorId?: unknown }> {
    const { table, status } = this.entity;
    const columns = table as unknown as Record<string, SQLiteColumn | undefined>;
    const stmt = this.compiled("refusal", () =>
      (this.db as Database)
        .select({
          status,
          ...(columns.leaseOwner ? { leaseOwner: columns.leaseOwner } : {}),
          ...(columns.actorId ? { actorId: columns.actorId } : {}),
        })
        .from(table as SQLiteTable)
        .where(eq(this.entity.id, sql.placeholder("id")))
        .limit(1)
        .prepare(),
    );
    const row = (await this.settle(stmt.get({ id }))) as { status: string } | undefined;
    if (!row) throw new NotFoundError(this.entity.name, id);
    return row;
  }

  /** Throws NotFoundError when an UPDATE … RETURNING (or a read by id) found no row. */
  protected found<T>(row: T | undefined, id: number): T {
    if (row === undefined || row === null) throw new NotFoundError(this.entity.name, id);
    return row;
  }
}

/**
 * A named placeholder usable in `.set({ … })` of a prepared UPDATE. Drizzle's
 * `set()` types do not admit placeholders, but it binds them through the
 * column's encoder (Date → ms, JSON → text) like any value, which is what we want.
 */
export const slot = (name: string): never => sql.placeholder(name) as never;
