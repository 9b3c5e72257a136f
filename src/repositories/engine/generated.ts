/**
 * Statement templates made at BUILD time. `scripts/generate-statements.ts`
 * runs every repository statement's Drizzle builder once (the exercise in
 * tests/support/statement-exercise.ts) and writes what the engine made of
 * each — SQL text, argument slots, result keys — into
 * `generated-statements.ts`, naming the column encoders and decoders by
 * table and column instead of holding the objects. At run time a repository
 * takes its statement from there on first use (resolved against the schema
 * here), so no Drizzle query is built at all: a fresh process's first call of
 * each kind cost 0.6–10 ms of Drizzle building (BENCHMARKS.md, start-up).
 * A statement missing from the file is built with Drizzle as before.
 *
 * It cannot drift: tests/generated-statements.test.ts renders every
 * statement with Drizzle again and fails when the file differs
 * (`npm run db:statements` regenerates it).
 */
import { Column, getTableColumns, is } from "drizzle-orm";
import { SQLiteTable } from "drizzle-orm/sqlite-core";
import * as schema from "../../schema";
import { GENERATED_STATEMENTS } from "./generated-statements";
import type { Decoder, Encoder, QueryTemplate, Slot } from "./types";

/** A slot: `[0, constant]`, `[1, placeholder]`, `[2, placeholder, "table.column" encoding it]`. */
export type GeneratedSlot = [0, string | number | boolean | null] | [1, string] | [2, string, string];

/** A template as the generated file stores it (decoders: "table.column", "fn:Number", or null for none). */
export interface GeneratedStatement {
  sql: string;
  slots: GeneratedSlot[];
  keys: string[] | null;
  decoders: (string | null)[] | null;
}

/** Per repository (its entity key: `actorTasks`), per statement key. */
export type GeneratedStatements = Record<string, Record<string, GeneratedStatement>>;

/** Decoders Drizzle makes for `sql<…>`…`.mapWith(fn)` with a built-in function. */
const FUNCTIONS: Record<string, (v: unknown) => unknown> = { Number, String, Boolean };

let enabled = true;
let columns: { byRef: Map<string, Column>; refOf: Map<Column, string> } | undefined;
const resolved = new Map<string, QueryTemplate>();

/**
 * Turns the generated templates off (`false`) or on: off, every statement is
 * built with Drizzle (what the generator and the drift test need). Affects
 * repositories' statements built from now on.
 */
export function useGeneratedStatements(on: boolean): void {
  enabled = on;
  resolved.clear();
}

/** The generated template of statement `key` of the repository `owner`, or undefined. */
export function generatedTemplate(owner: string, key: string): QueryTemplate | undefined {
  if (!enabled) return undefined;
  const id = `${owner}\u0000${key}`;
  let t = resolved.get(id);
  if (t === undefined) {
    const g = GENERATED_STATEMENTS[owner]?.[key];
    if (g === undefined) return undefined;
    t = toTemplate(g);
    resolved.set(id, t);
  }
  return t;
}

function columnIndex() {
  if (columns === undefined) {
    const byRef = new Map<string, Column>();
    const refOf = new Map<Column, string>();
    for (const [name, table] of Object.entries(schema)) {
      if (!is(table, SQLiteTable)) continue;
      for (const [key, column] of Object.entries(getTableColumns(table))) {
        byRef.set(`${name}.${key}`, column);
        refOf.set(column, `${name}.${key}`);
      }
    }
    columns = { byRef, refOf };
  }
  return columns;
}

function column(ref: string): Column {
  const c = columnIndex().byRef.get(ref);
  if (c === undefined) throw new Error(`rf-inferno-db: generated statement names an unknown column ${ref}`);
  return c;
}

function decoderOf(ref: string | null): Decoder | null {
  if (ref === null) return null;
  if (ref.startsWith("fn:")) {
    const fn = FUNCTIONS[ref.slice(3)];
    if (fn === undefined) throw new Error(`rf-inferno-db: generated statement names an unknown decoder ${ref}`);
    return { mapFromDriverValue: fn };
  }
  return column(ref);
}

function toTemplate(g: GeneratedStatement): QueryTemplate {
  const slots: Slot[] = g.slots.map((s) =>
    s[0] === 0 ? { k: 0, v: s[1] } : s[0] === 1 ? { k: 1, name: s[1] } : { k: 2, name: s[1], enc: column(s[2]) },
  );
  return { sql: g.sql, slots, keys: g.keys, decoders: g.decoders === null ? null : g.decoders.map(decoderOf) };
}

/**
 * What the generated file stores for `t`, or null when `t` holds something
 * that cannot be named (an encoder or decoder that is neither a schema
 * column nor a built-in function, a constant that is not JSON): such a
 * statement is left to be built with Drizzle at run time.
 */
export function serializeTemplate(t: QueryTemplate): GeneratedStatement | null {
  const { refOf } = columnIndex();
  const slots: GeneratedSlot[] = [];
  for (const s of t.slots) {
    if (s.k === 0) {
      const v = s.v;
      if (
        v !== null &&
        typeof v !== "string" &&
        typeof v !== "boolean" &&
        !(typeof v === "number" && Number.isFinite(v))
      )
        return null;
      slots.push([0, v]);
    } else if (s.k === 1) slots.push([1, s.name]);
    else {
      const ref = refOf.get(s.enc as Encoder as Column);
      if (ref === undefined) return null;
      slots.push([2, s.name, ref]);
    }
  }
  let decoders: (string | null)[] | null = null;
  if (t.decoders !== null) {
    decoders = [];
    for (const d of t.decoders) {
      if (d === null) decoders.push(null);
      else if (is(d, Column)) {
        const ref = refOf.get(d);
        if (ref === undefined) return null;
        decoders.push(ref);
      } else {
        const fn = Object.entries(FUNCTIONS).find(([, f]) => f === d.mapFromDriverValue)?.[0];
        if (fn === undefined) return null;
        decoders.push(`fn:${fn}`);
      }
    }
  }
  return { sql: t.sql, slots, keys: t.keys === null ? null : [...t.keys], decoders };
}
