import type { InArgs, InStatement, ResultSet, Row, TransactionMode } from "@libsql/client";
import { Column, eq, is, noopDecoder, noopEncoder, Param, Placeholder, SQL, sql } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable, SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import type { LibSQLDatabase } from "drizzle-orm/libsql";
import { mapDriverError, type ErrorContext } from "../errors";
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

type Values = Record<string, unknown>;

/** Where a compiled statement runs: the libSQL client, or the transaction the executor is bound to. */
export interface ExecTarget {
  execute(stmt: InStatement): Promise<ResultSet>;
  batch(stmts: InStatement[], mode?: TransactionMode): Promise<ResultSet[]>;
}

/** The parts of Drizzle's libsql prepared query a {@link CompiledQuery} is built from (drizzle-orm 0.45). */
interface DrizzlePrepared {
  getQuery(): { sql: string; params: unknown[] };
  get(values?: Values): Promise<unknown>;
  all(values?: Values): Promise<unknown>;
  run(values?: Values): Promise<unknown>;
  client?: ExecTarget;
  tx?: ExecTarget;
  fields?: { path: string[]; field: unknown }[];
  customResultMapper?: unknown;
}

/** A parameter of the statement: a constant, a named placeholder, or a placeholder through a column encoder. */
export type Slot =
  | { k: 0; v: unknown }
  | { k: 1; name: string }
  | { k: 2; name: string; enc: { mapToDriverValue(v: unknown): unknown } };

const identityFrom = (d: { mapFromDriverValue(v: unknown): unknown }) =>
  d.mapFromDriverValue === Column.prototype.mapFromDriverValue ||
  d.mapFromDriverValue === noopDecoder.mapFromDriverValue;
const identityTo = (e: { mapToDriverValue(v: unknown): unknown }) =>
  e.mapToDriverValue === Column.prototype.mapToDriverValue || e.mapToDriverValue === noopEncoder.mapToDriverValue;

/** Drizzle's normalizeFieldValue: blobs come back as Buffer (Node) or text (elsewhere). */
function normalizeBlob(v: ArrayBuffer): unknown {
  const B = (globalThis as { Buffer?: { from(a: ArrayBuffer): unknown } }).Buffer;
  return B ? B.from(v) : new TextDecoder().decode(v);
}

/**
 * A query built with Drizzle once, then run without Drizzle's per-call
 * machinery: the SQL text is fixed, the arguments are filled from a
 * precomputed slot list (through the same column encoders Drizzle would
 * use, in the same cases), and result rows are decoded by a precomputed
 * column → (key, decoder) table. Results are identical to Drizzle's
 * `get()/all()/run()` on the same prepared query; what is saved is
 * Drizzle's per-call placeholder walk (`fillPlaceholders`, an `is()` class
 * check per parameter), its generic row mapper (`mapResultRow`: an
 * iterator, `is()` checks and a decoder lookup per column per row), the
 * `DrizzleQueryError` wrapping and three async layers. `statement()` gives
 * the `{ sql, args }` for a `client.batch`, so several compiled statements
 * can be one atomic batch (one request remotely) without any query building.
 *
 * Built from Drizzle's libsql prepared query (its `client`/`tx`, `fields`
 * and `getQuery()`); if that shape is not there (another Drizzle version),
 * `get/all/run` fall back to Drizzle's own methods and `statement()` throws.
 */
/**
 * What a compiled statement is, independent of the connection it runs on:
 * the SQL text, the argument slots and the row decoders. Shared by every
 * repository instance of a class (see BaseRepository.compiled), so a second
 * database or a `db.transaction` scope does no query building at all.
 */
export interface QueryTemplate {
  readonly sql: string;
  readonly slots: readonly Slot[];
  /** Result keys and decoders; null for a statement without result fields (no RETURNING: only run()). */
  readonly keys: readonly string[] | null;
  readonly decoders: readonly ({ mapFromDriverValue(v: unknown): unknown } | null)[] | null;
}

/** The template of a Drizzle libsql prepared query, or null if its shape is not the one known here. */
function templateOf(p: DrizzlePrepared): QueryTemplate | null {
  const query = typeof p.getQuery === "function" ? p.getQuery() : undefined;
  if (!query || typeof query.sql !== "string" || !Array.isArray(query.params)) return null;
  const slots: Slot[] = [];
  for (const param of query.params) {
    if (is(param, Placeholder)) slots.push({ k: 1, name: param.name });
    else if (is(param, Param) && is(param.value, Placeholder)) {
      const enc = param.encoder as { mapToDriverValue(v: unknown): unknown };
      slots.push(identityTo(enc) ? { k: 1, name: param.value.name } : { k: 2, name: param.value.name, enc });
    } else if (is(param, Param) || is(param, SQL)) {
      return null; // not something Drizzle's fillPlaceholders leaves alone either; let Drizzle handle it
    } else slots.push({ k: 0, v: param });
  }
  if (p.customResultMapper !== undefined) return null;
  // Statements without result fields (no RETURNING) only ever run().
  if (!Array.isArray(p.fields)) return { sql: query.sql, slots, keys: null, decoders: null };
  if (!p.fields.every((f) => f.path.length === 1)) return null;
  const keys: string[] = [];
  const decoders: ({ mapFromDriverValue(v: unknown): unknown } | null)[] = [];
  for (const { path, field } of p.fields) {
    const f = field as { decoder?: unknown; sql?: { decoder?: unknown }; _?: { sql?: { decoder?: unknown } } };
    let dec: { mapFromDriverValue(v: unknown): unknown } | undefined;
    if (is(field, Column)) dec = field as unknown as { mapFromDriverValue(v: unknown): unknown };
    else if (is(field, SQL)) dec = f.decoder as typeof dec;
    else dec = (f.sql?.decoder ?? f._?.sql?.decoder) as typeof dec;
    if (!dec || typeof dec.mapFromDriverValue !== "function") return null;
    keys.push(path[0]!);
    decoders.push(identityFrom(dec) ? null : dec);
  }
  return { sql: query.sql, slots, keys, decoders };
}

/** Where Drizzle's libsql session (of a database or a transaction) sends statements. */
export interface ExecBinding {
  client: ExecTarget;
  /** Set inside a transaction: statements (and batches) go through it. */
  tx: ExecTarget | undefined;
}

/**
 * A query built with Drizzle once, then run without Drizzle's per-call
 * machinery: the SQL text is fixed, the arguments are filled from a
 * precomputed slot list (through the same column encoders Drizzle would
 * use, in the same cases), and result rows are decoded by a precomputed
 * column → (key, decoder) table. Results are identical to Drizzle's
 * `get()/all()/run()` on the same prepared query; what is saved is
 * Drizzle's per-call placeholder walk (`fillPlaceholders`, an `is()` class
 * check per parameter), its generic row mapper (`mapResultRow`: an
 * iterator, `is()` checks and a decoder lookup per column per row), the
 * `DrizzleQueryError` wrapping and three async layers. `statement()` gives
 * the `{ sql, args }` for a `client.batch`, so several compiled statements
 * can be one atomic batch (one request remotely) without any query building.
 *
 * Built from Drizzle's libsql prepared query (its `client`/`tx`, `fields`
 * and `getQuery()`) or from a shared {@link QueryTemplate}; if that shape is
 * not there (another Drizzle version), `get/all/run` fall back to Drizzle's
 * own methods and `statement()` throws.
 */
export class CompiledQuery<TRow> {
  readonly sql: string;
  /** Null when Drizzle's own prepared query has to run it (unknown shape). */
  readonly template: QueryTemplate | null;
  readonly #slots: readonly Slot[] | null;
  readonly #keys: readonly string[] | null;
  readonly #decoders: readonly ({ mapFromDriverValue(v: unknown): unknown } | null)[] | null;
  /** The last result's column list and whether its names can be used to read values (see #names). */
  #lastColumns: readonly string[] | undefined;
  #lastNames: readonly string[] | null = null;
  readonly #target: ExecTarget | null;
  readonly #tx: ExecTarget | undefined;
  readonly #prepared: DrizzlePrepared | undefined;

  /** From a Drizzle prepared query, or from a template and the binding it runs on. */
  constructor(source: unknown, binding?: ExecBinding) {
    let template: QueryTemplate | null;
    let target: ExecTarget | undefined;
    let tx: ExecTarget | undefined;
    if (binding) {
      template = source as QueryTemplate;
      tx = binding.tx;
      target = tx ?? binding.client;
    } else {
      const p = source as DrizzlePrepared;
      this.#prepared = p;
      tx = p.tx;
      target = p.tx ?? p.client;
      template = target && typeof target.execute === "function" ? templateOf(p) : null;
    }
    this.template = template;
    this.sql = template?.sql ?? this.#prepared?.getQuery?.().sql ?? "";
    this.#slots = template?.slots ?? null;
    this.#keys = template?.keys ?? null;
    this.#decoders = template?.decoders ?? null;
    this.#target = template ? target! : null;
    this.#tx = tx;
  }

  /** The positional arguments for `values`, encoded as Drizzle would. */
  args(values: Values): InArgs {
    const slots = this.#slots!;
    const out = new Array<unknown>(slots.length);
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (s.k === 0) out[i] = s.v;
      else {
        if (!(s.name in values)) throw new Error(`No value for placeholder "${s.name}" was provided`);
        out[i] = s.k === 1 ? values[s.name] : s.enc.mapToDriverValue(values[s.name]);
      }
    }
    return out as InArgs;
  }

  /** `{ sql, args }` for a `client.batch([...])`. */
  statement(values: Values): InStatement {
    if (this.#target === null)
      throw new Error(
        "rf-inferno-db: this drizzle-orm version's prepared queries cannot be batched by the repositories",
      );
    return { sql: this.sql, args: this.args(values) };
  }

  /**
   * The result's column names when every value can be read by name — the
   * names are distinct, not `length` and not index-like, so each is an own
   * property of the row (libSQL rows offer both `row[i]` and `row.name`;
   * reading by name is ~2x faster than through the index accessors) — else
   * null (read by index). Cached for the last column list seen: the local
   * driver hands out the same frozen array for every result of a statement.
   */
  #names(columns: readonly string[]): readonly string[] | null {
    if (columns === this.#lastColumns) return this.#lastNames;
    let ok = columns.length === this.#keys!.length;
    if (ok) {
      const seen = new Set<string>();
      for (const c of columns) {
        if (c === "length" || c === "__proto__" || /^(0|[1-9][0-9]*)$/.test(c) || seen.has(c)) {
          ok = false;
          break;
        }
        seen.add(c);
      }
    }
    this.#lastColumns = columns;
    this.#lastNames = ok ? columns : null;
    return this.#lastNames;
  }

  /** One result row decoded like Drizzle's `mapResultRow`; `names` from #names (null: by index). */
  decode(row: Row, names: readonly string[] | null = null): TRow {
    const keys = this.#keys!;
    const decoders = this.#decoders!;
    const o: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      let v = (names === null ? row[i] : row[names[i]!]) as unknown;
      if (v !== null) {
        if (typeof v === "object" && v instanceof ArrayBuffer) v = normalizeBlob(v);
        const d = decoders[i];
        if (d != null) v = d.mapFromDriverValue(v);
      }
      o[keys[i]!] = v;
    }
    return o as TRow;
  }

  /** Every row of a result of this statement, decoded. */
  decodeAll(rs: ResultSet): TRow[] {
    const rows = rs.rows;
    const names = this.#names(rs.columns);
    const out = new Array<TRow>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = this.decode(rows[i]!, names);
    return out;
  }

  /** The first row of a result of this statement, decoded (`undefined` when none). */
  decodeFirst(rs: ResultSet): TRow | undefined {
    const row = rs.rows[0];
    return row === undefined ? undefined : this.decode(row, this.#names(rs.columns));
  }

  /** The first row (`undefined` when none): Drizzle's `get()`. */
  async get(values: Values = {}): Promise<TRow | undefined> {
    if (this.#keys === null) return (await this.#drizzle().get(values)) as TRow | undefined;
    return this.decodeFirst(await this.#target!.execute({ sql: this.sql, args: this.args(values) }));
  }

  /** All rows: Drizzle's `all()`. */
  async all(values: Values = {}): Promise<TRow[]> {
    if (this.#keys === null) return (await this.#drizzle().all(values)) as TRow[];
    return this.decodeAll(await this.#target!.execute({ sql: this.sql, args: this.args(values) }));
  }

  /** The driver's result (rowsAffected, lastInsertRowid): Drizzle's `run()`. */
  async run(values: Values = {}): Promise<ResultSet> {
    if (this.#target === null) return (await this.#drizzle().run(values)) as ResultSet;
    return this.#target.execute({ sql: this.sql, args: this.args(values) });
  }

  /**
   * Runs compiled statements as one atomic batch on the same client or
   * transaction (one request remotely). Inside a transaction they run in it.
   */
  static batch(
    stmts: { query: CompiledQuery<unknown>; values: Values }[],
    mode: TransactionMode = "write",
  ): Promise<ResultSet[]> {
    const first = stmts[0]!.query;
    const target = first.#target;
    if (target === null)
      throw new Error(
        "rf-inferno-db: this drizzle-orm version's prepared queries cannot be batched by the repositories",
      );
    const list = stmts.map((s) => s.query.statement(s.values));
    const tx = first.#tx;
    return tx ? tx.batch(list) : target.batch(list, mode);
  }

  /** Drizzle's own prepared query, for what the compiled form cannot do (no template, or no result fields). */
  #drizzle(): DrizzlePrepared {
    if (this.#prepared === undefined) throw new Error("rf-inferno-db: this statement has no result fields; use run()");
    return this.#prepared;
  }
}

/**
 * Compiled statement templates per repository class and key. A key names one
 * fixed query of that class (the builders take no runtime values), so its
 * template is the same for every instance.
 */
const TEMPLATES = new WeakMap<object, Map<string, QueryTemplate>>();

/** The row type of a Drizzle prepared query (what its `all()` yields). */
export type RowOf<P> = P extends { all(...args: never[]): Promise<Array<infer R>> } ? R : never;

/**
 * What every repository shares: its executor, a cache of compiled
 * statements (built with Drizzle on first use, so a hot call does no query
 * building and little per-call work), and the mapping of driver errors to
 * typed ones.
 */
export abstract class BaseRepository {
  readonly #prepared = new Map<string, unknown>();

  constructor(
    protected readonly db: Executor,
    protected readonly options: RepositoryOptions = {},
  ) {}

  /**
   * The statement called `key`, built with Drizzle (`build` returns a
   * `.prepare()`d query) once per repository instance and compiled: see
   * {@link CompiledQuery}.
   */
  protected compiled<P>(key: string, build: () => P): CompiledQuery<RowOf<P>> {
    let c = this.#prepared.get(key) as CompiledQuery<RowOf<P>> | undefined;
    if (c === undefined) {
      let byKey = TEMPLATES.get(this.constructor);
      if (byKey === undefined) {
        byKey = new Map();
        TEMPLATES.set(this.constructor, byKey);
      }
      const template = byKey.get(key);
      const binding = template ? this.#binding() : undefined;
      if (template && binding) c = new CompiledQuery<RowOf<P>>(template, binding);
      else {
        c = new CompiledQuery<RowOf<P>>(build());
        if (c.template) byKey.set(key, c.template);
      }
      this.#prepared.set(key, c);
    }
    return c;
  }

  /**
   * The client (and transaction) Drizzle's libsql session of this executor
   * sends statements to — the same fields its prepared queries read
   * (drizzle-orm 0.45); undefined if the session does not look like that.
   */
  #binding(): ExecBinding | undefined {
    if (this.#bound === undefined) {
      const session = (this.db as unknown as { session?: { client?: ExecTarget; tx?: ExecTarget } }).session;
      const client = session?.client;
      this.#bound =
        client && typeof client.execute === "function" && typeof client.batch === "function"
          ? { client, tx: session!.tx }
          : null;
    }
    return this.#bound ?? undefined;
  }
  #bound: ExecBinding | null | undefined;

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
