import type { InArgs, InStatement, ResultSet, Row, TransactionMode } from "@libsql/client";
import { type DrizzlePrepared, targetOf, templateOf } from "./drizzle-internals";
import type { Decoder, ExecBinding, ExecTarget, QueryTemplate, Slot } from "./types";

type Values = Record<string, unknown>;

/**
 * The SQL of every statement that did NOT take the fast path (Drizzle's shape
 * was not recognised, so Drizzle's own per-call path runs it). Empty on the
 * Drizzle version this package is built for; tests/statement-engine.test.ts
 * runs every repository statement and asserts it stays empty.
 */
export const slowPath = new Set<string>();

/** Drizzle's normalizeFieldValue: blobs come back as Buffer (Node) or text (elsewhere). */
function normalizeBlob(v: ArrayBuffer): unknown {
  const B = (globalThis as { Buffer?: { from(a: ArrayBuffer): unknown } }).Buffer;
  return B ? B.from(v) : new TextDecoder().decode(v);
}

const NOT_BATCHABLE =
  "rf-inferno-db: this drizzle-orm version's prepared queries cannot be batched by the repositories";

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
 * Built from Drizzle's libsql prepared query or from a shared
 * {@link QueryTemplate} (see drizzle-internals.ts for what is read from
 * Drizzle); if that shape is not there (another Drizzle version), `get/all/run`
 * fall back to Drizzle's own methods, `statement()` throws, and the SQL is
 * recorded in {@link slowPath}.
 */
export class CompiledQuery<TRow> {
  readonly sql: string;
  /** Null when Drizzle's own prepared query has to run it (unknown shape). */
  readonly template: QueryTemplate | null;
  readonly #slots: readonly Slot[] | null;
  readonly #keys: readonly string[] | null;
  readonly #decoders: readonly (Decoder | null)[] | null;
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
      const bound = targetOf(p);
      tx = bound?.tx;
      target = bound?.target;
      template = bound ? templateOf(p) : null;
    }
    this.template = template;
    this.sql = template?.sql ?? this.#prepared?.getQuery?.().sql ?? "";
    this.#slots = template?.slots ?? null;
    this.#keys = template?.keys ?? null;
    this.#decoders = template?.decoders ?? null;
    this.#target = template ? target! : null;
    this.#tx = tx;
    if (template === null) slowPath.add(this.sql);
  }

  /** True when this statement runs without Drizzle's per-call path. */
  get fast(): boolean {
    return this.#target !== null;
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
    if (this.#target === null) throw new Error(NOT_BATCHABLE);
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
  static batch(stmts: { query: CompiledQuery<unknown>; values: Values }[], mode: TransactionMode = "write") {
    const first = stmts[0]!.query;
    const target = first.#target;
    if (target === null) throw new Error(NOT_BATCHABLE);
    const list = stmts.map((s) => s.query.statement(s.values));
    const tx = first.#tx;
    return tx ? tx.batch(list) : target.batch(list, mode);
  }

  /** Drizzle's own prepared query, for what the compiled form cannot do (no template, or no result fields). */
  #drizzle(): DrizzlePrepared {
    if (this.#prepared === undefined) throw new Error("rf-inferno-db: this statement has no result fields; use run()");
    slowPath.add(this.sql);
    return this.#prepared;
  }
}
