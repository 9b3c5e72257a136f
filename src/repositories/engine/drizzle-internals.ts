/**
 * The ONLY place that reads Drizzle's internals (drizzle-orm 0.44 and 0.45, libsql
 * driver). Everything the statement engine needs from Drizzle comes through
 * the two functions below; a Drizzle release that renames or reshapes what
 * they read makes them return null, the engine then runs the statement
 * through Drizzle's own (slower) per-call path, and
 * tests/statement-engine.test.ts fails — loudly, in CI, not silently in
 * production.
 *
 * What is read, and why no public API serves instead:
 *
 * - `prepared.getQuery()` — public: the SQL text and its parameters
 *   (constants, `Placeholder`s, `Param`s wrapping a placeholder and the
 *   column encoder Drizzle would apply). Same as the builder's `toSQL()`.
 * - `prepared.fields` (`@internal`) — the ordered result fields: each result
 *   column's key and the column (or `SQL`) whose `mapFromDriverValue` decodes
 *   it. Drizzle exposes the selection only as a type; without this list the
 *   engine could not decode rows (Date, JSON, enum columns) itself.
 * - `prepared.customResultMapper` (`@internal`) — set for relational queries,
 *   whose rows are nested: such a statement is left to Drizzle.
 * - `session.client` / `session.tx` (private) of a database or transaction —
 *   where Drizzle sends its statements: the libSQL client, or the libSQL
 *   `Transaction` inside `db.transaction`. `db.$client` is the public
 *   equivalent of the first, but a Drizzle transaction offers no public way
 *   to its libSQL transaction, so one read serves both.
 * - `construct(client, config)` of `drizzle-orm/libsql/driver-core` (exported,
 *   left out of its types) — what `drizzle(client, config)` of
 *   `drizzle-orm/libsql` calls once it has a client. The public `drizzle`
 *   lives in a module that imports `@libsql/client` at the top, the
 *   package's largest import (BENCHMARKS.md, start-up), which a local
 *   database never uses; `drizzle-orm/libsql/web` imports its web build.
 */
import type { Client } from "@libsql/client";
import { Column, is, noopDecoder, noopEncoder, Param, Placeholder, SQL } from "drizzle-orm";
import * as driverCore from "drizzle-orm/libsql/driver-core";
import type { LibSQLDatabase } from "drizzle-orm/libsql/driver-core";
import type { Decoder, Encoder, ExecBinding, ExecTarget, QueryTemplate, Slot } from "./types";

/** The parts of Drizzle's libsql prepared query a template is built from. */
export interface DrizzlePrepared {
  getQuery(): { sql: string; params: unknown[] };
  get(values?: Record<string, unknown>): Promise<unknown>;
  all(values?: Record<string, unknown>): Promise<unknown>;
  run(values?: Record<string, unknown>): Promise<unknown>;
  client?: ExecTarget;
  tx?: ExecTarget;
  fields?: { path: string[]; field: unknown }[];
  customResultMapper?: unknown;
}

/** Decoders that return their input: skipped per row. */
const identityFrom = (d: Decoder) =>
  d.mapFromDriverValue === Column.prototype.mapFromDriverValue ||
  d.mapFromDriverValue === noopDecoder.mapFromDriverValue;
const identityTo = (e: Encoder) =>
  e.mapToDriverValue === Column.prototype.mapToDriverValue || e.mapToDriverValue === noopEncoder.mapToDriverValue;

/** The decoder Drizzle's `mapResultRow` would use for one selected field, if recognisable. */
function decoderOf(field: unknown): Decoder | undefined {
  const f = field as { decoder?: unknown; sql?: { decoder?: unknown }; _?: { sql?: { decoder?: unknown } } };
  let dec: unknown;
  if (is(field, Column)) dec = field;
  else if (is(field, SQL)) dec = f.decoder;
  else dec = f.sql?.decoder ?? f._?.sql?.decoder; // SQL.Aliased
  return dec && typeof (dec as Decoder).mapFromDriverValue === "function" ? (dec as Decoder) : undefined;
}

/** The template of a Drizzle libsql prepared query, or null if its shape is not the one known here. */
export function templateOf(p: DrizzlePrepared): QueryTemplate | null {
  const query = typeof p.getQuery === "function" ? p.getQuery() : undefined;
  if (!query || typeof query.sql !== "string" || !Array.isArray(query.params)) return null;
  const slots: Slot[] = [];
  for (const param of query.params) {
    if (is(param, Placeholder)) slots.push({ k: 1, name: param.name });
    else if (is(param, Param) && is(param.value, Placeholder)) {
      const enc = param.encoder as Encoder;
      slots.push(identityTo(enc) ? { k: 1, name: param.value.name } : { k: 2, name: param.value.name, enc });
    } else if (is(param, Param) || is(param, SQL)) {
      return null; // not something Drizzle's fillPlaceholders leaves alone either; let Drizzle handle it
    } else slots.push({ k: 0, v: param });
  }
  if (p.customResultMapper !== undefined) return null;
  // Statements without result fields (no RETURNING) only ever run().
  if (!Array.isArray(p.fields)) return { sql: query.sql, slots, keys: null, decoders: null };
  const keys: string[] = [];
  const decoders: (Decoder | null)[] = [];
  for (const { path, field } of p.fields) {
    const dec = path.length === 1 ? decoderOf(field) : undefined; // nested paths: joins, left to Drizzle
    if (!dec) return null;
    keys.push(path[0]!);
    decoders.push(identityFrom(dec) ? null : dec);
  }
  return { sql: query.sql, slots, keys, decoders };
}

/** Where a prepared query sends its statement: its transaction, else its client (null if not recognisable). */
export function targetOf(p: DrizzlePrepared): { target: ExecTarget; tx: ExecTarget | undefined } | null {
  const target = p.tx ?? p.client;
  return target && typeof target.execute === "function" ? { target, tx: p.tx } : null;
}

/**
 * Where a Drizzle libsql database (or transaction) sends statements — the same
 * fields its prepared queries read — or null if the session does not look like that.
 */
export function bindingOf(executor: unknown): ExecBinding | null {
  const session = (executor as { session?: { client?: ExecTarget; tx?: ExecTarget } }).session;
  const client = session?.client;
  return client && typeof client.execute === "function" && typeof client.batch === "function"
    ? { client, tx: session!.tx }
    : null;
}

type Construct = <S extends Record<string, unknown>>(client: Client, config: { schema: S }) => LibSQLDatabase<S>;

/**
 * Drizzle's libsql database over `client` with `schema` — `drizzle(client, { schema })`
 * without importing `@libsql/client` (see the header). Throws if this Drizzle
 * version no longer exports `construct` (tests/statement-engine.test.ts checks it does).
 */
export function drizzleOver<S extends Record<string, unknown>>(client: Client, schema: S): LibSQLDatabase<S> {
  const construct = (driverCore as unknown as { construct?: Construct }).construct;
  if (typeof construct !== "function") {
    throw new Error(
      "rf-inferno-db: drizzle-orm/libsql/driver-core no longer exports construct(); see drizzle-internals.ts",
    );
  }
  return construct(client, { schema });
}
