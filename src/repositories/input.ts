/**
 * Each entity's input, defined once: a declarative spec — field name →
 * validator (from src/validate.ts) and whether it is required, optional or
 * nullable — from which come the TypeScript input type (`InputOf`), the
 * checks (`spec.parse`), the defaults and the INSERT's placeholders
 * (`spec.placeholders`).
 *
 * Defaults come from ONE place: for a spec over a table, an optional field
 * takes its column's default from the schema (`.default("running")`);
 * writing a default in the spec as well is refused when the module loads.
 * Only specs that are not a table's (e.g. a progress delta) write their
 * defaults here.
 *
 * @example
 * export const experimentInput = inputSpec(experiments, {
 *   experimentName: field.text({ nonEmpty: true }),
 *   numShards: field.count().optional(), // default 0 from the schema
 *   numCpus: field.count().nullable(),
 * });
 * export interface CreateExperimentInput extends InputOf<typeof experimentInput> {}
 * const values = experimentInput.parse(input); // ValidationError on the first bad field
 */
import { getTableColumns, is, SQL, sql } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { ValidationError } from "../errors";
import * as v from "../validate";

/**
 * `required`: must be given, and not null (null is no value: refused even where the validator
 * accepts it, e.g. JSON); `optional`: may be omitted (then its default, else null);
 * `nullable`: optional, and null means null.
 */
export type Presence = "required" | "optional" | "nullable";

/** One field: its check (input `In` → stored `Out`) and presence. */
export class Field<In, Out, P extends Presence = "required"> {
  constructor(
    readonly check: (value: unknown, name: string) => Out,
    readonly presence: P,
    /** An explicit default (only for specs that are not a table's). */
    readonly fallback?: Out,
    /** The column's key when it is not the field's name (an input kept under an older name). */
    readonly columnKey?: string,
    /** Type-only: what callers pass. */
    readonly _in?: In,
  ) {}

  /** May be omitted: then the column's default (or `fallback` for a spec without a table), else null. */
  optional(fallback?: Out): Field<In, Out, "optional"> {
    return new Field<In, Out, "optional">(this.check, "optional", fallback, this.columnKey);
  }

  /** May be omitted or null: stored as null. */
  nullable(): Field<In, Out, "nullable"> {
    return new Field<In, Out, "nullable">(this.check, "nullable", undefined, this.columnKey);
  }

  /** Stored in the column `key` (the field keeps its own name in the input and in `parse`'s result). */
  column(key: string): Field<In, Out, P> {
    return new Field<In, Out, P>(this.check, this.presence, this.fallback, key);
  }
}

const make = <In, Out = In>(check: (value: unknown, name: string) => Out) => new Field<In, Out>(check, "required");

/** The field kinds: one per validator of src/validate.ts. */
export const field = {
  /** A row id (non-negative integer). */
  id: () => make<number>(v.id),
  /** A count (non-negative integer). */
  count: () => make<number>(v.count),
  /** Seconds (finite, >= 0). */
  duration: () => make<number>(v.duration),
  /** A non-negative number, fractions allowed (resources per actor). */
  amount: () => make<number>(v.amount),
  /** A boolean. */
  flag: () => make<boolean>(v.flag),
  /** Well-formed text without NUL; `nonEmpty` refuses "". */
  text: (opts: { nonEmpty?: boolean } = {}) => make<string>((x, n) => v.text(x, n, opts)),
  /** One of a fixed set (a status, an operation). */
  oneOf: <const T extends string>(values: readonly T[]) => make<T>((x, n) => v.oneOf(x, values, n)),
  /** A `Date` or ISO-8601 string, stored as a `Date`. */
  time: () => make<Date | string, Date>(v.time),
  /** Any JSON-serialisable value. */
  json: () => make<unknown>(v.json),
};

// biome-ignore lint/suspicious/noExplicitAny: any field, whatever its types
type AnyField = Field<any, any, Presence>;
export type Fields = Record<string, AnyField>;

type InOf<F> = F extends Field<infer In, unknown, infer P> ? (P extends "nullable" ? In | null : In) : never;
type OutOf<F> = F extends Field<unknown, infer Out, infer P> ? (P extends "required" ? Out : Out | null) : never;
type RequiredKeys<S> = { [K in keyof S]: S[K] extends Field<unknown, unknown, "required"> ? K : never }[keyof S];

/** What a caller passes: required fields as they are, the others optional. */
export type InputOf<T extends { fields: Fields }> = {
  [K in keyof T["fields"] as K extends RequiredKeys<T["fields"]> ? K : never]: InOf<T["fields"][K]>;
} & {
  [K in keyof T["fields"] as K extends RequiredKeys<T["fields"]> ? never : K]?: InOf<T["fields"][K]>;
};

/** What `parse` returns: every field, checked, defaults filled in. */
export type ValuesOf<T extends { fields: Fields }> = { [K in keyof T["fields"]]: OutOf<T["fields"][K]> };

/** A column's default when it is a plain value (not SQL the database computes), else undefined. */
function columnDefault(table: SQLiteTable, key: string): unknown {
  const column = getTableColumns(table)[key];
  if (column === undefined) throw new Error(`rf-inferno-db: input field ${key} is not a column of the table`);
  return column.hasDefault && !is(column.default, SQL) ? column.default : undefined;
}

/** One field's check, compiled for the parse loop. */
interface Step {
  key: string;
  check: (value: unknown, name: string) => unknown;
  presence: Presence;
  fallback: unknown;
}

/** An entity's (or an argument's) input: see the module comment. */
export class InputSpec<S extends Fields> {
  readonly #steps: Step[];
  /** The fields stored in a JSON column (their secrets are redacted before storage: redact.ts). */
  readonly jsonFields: readonly string[];

  constructor(
    readonly table: SQLiteTable | null,
    readonly fields: S,
  ) {
    this.#steps = Object.entries(fields).map(([key, f]) => {
      const columnKey = f.columnKey ?? key;
      const fromColumn = table && f.presence !== "required" ? columnDefault(table, columnKey) : undefined;
      if (fromColumn !== undefined && f.fallback !== undefined)
        throw new Error(`rf-inferno-db: the default of ${key} is the schema's; do not write it in the input spec too`);
      return {
        key,
        check: f.check,
        presence: f.presence,
        fallback: fromColumn ?? f.fallback ?? null,
      };
    });
    const columns = table ? getTableColumns(table) : {};
    this.jsonFields = Object.entries(fields)
      .filter(([key, f]) => columns[f.columnKey ?? key]?.dataType === "json")
      .map(([key]) => key);
  }

  /**
   * Checks `input` (ValidationError naming the first bad field; nothing is
   * sent) and returns the values to bind, defaults filled in.
   */
  parse(input: unknown, name = "input"): ValuesOf<this> {
    const i = v.record(input, name);
    const out: Record<string, unknown> = {};
    for (const s of this.#steps) {
      const value = i[s.key];
      if (value === undefined && s.presence !== "required") out[s.key] = s.fallback;
      else if (value === null && s.presence === "nullable") out[s.key] = null;
      else {
        const checked = s.check(value, s.key);
        if (checked === null && s.presence === "required")
          throw new ValidationError(`${s.key} must not be null`, { field: s.key });
        out[s.key] = checked;
      }
    }
    return out as ValuesOf<this>;
  }

  /**
   * `{ column: sql.placeholder(field) }` for every field — the `.values()` of
   * the entity's compiled INSERT — with `overrides` for fields bound otherwise.
   * Typed `never`: Drizzle's insert types do not admit placeholders, but
   * binds them through the column's encoder like any value.
   */
  placeholders(overrides: Record<string, unknown> = {}): never {
    const out: Record<string, unknown> = {};
    for (const [key, f] of Object.entries(this.fields))
      out[f.columnKey ?? key] = key in overrides ? overrides[key] : sql.placeholder(key);
    return out as never;
  }
}

/** An input spec over `table` (defaults from its columns), or over no table (`null`: defaults written in the spec). */
export function inputSpec<const S extends Fields>(table: SQLiteTable | null, fields: S): InputSpec<S> {
  return new InputSpec(table, fields);
}
