/**
 * Rows look like libsql's: `row.name`, `row[0]`, `row.length`,
 * `Array.prototype.slice.call(row)` all work, and `Object.keys(row)` /
 * `JSON.stringify(row)` / `{...row}` see only the column names. Column
 * values are own enumerable properties; `length` and the index keys are
 * getters on a per-statement prototype, so building a row is a handful of
 * plain stores instead of `defineProperty` calls. Columns whose name is
 * taken (duplicates — first one wins, as in libsql —, `length`, or an index
 * key) are kept in a private field, reachable by index only.
 */
import { Buffer } from "node:buffer";
import type { IntMode, ResultSet, Row } from "@libsql/client";
import { bigintToValue, blobToArrayBuffer, MAX_SAFE } from "./values";

/** A per-statement row class: `new Row(rawArray)`. */
export type RowCtor = new (raw: unknown[]) => Row;

interface Layout {
  /** Column indexes stored as own properties (their name is usable). */
  own: number[];
  /** Column indexes reachable only by index. */
  hidden: number[];
}

function layoutOf(names: readonly string[]): Layout {
  const n = names.length;
  const seen = new Set<string>();
  const own: number[] = [];
  const hidden: number[] = [];
  for (let i = 0; i < n; i++) {
    const name = names[i]!;
    const asIndex = Number(name);
    const isIndexKey =
      name !== "" && String(asIndex) === name && Number.isInteger(asIndex) && asIndex >= 0 && asIndex < n;
    if (name === "length" || isIndexKey || seen.has(name)) hidden.push(i);
    else {
      seen.add(name);
      own.push(i);
    }
  }
  return { own, hidden };
}

function defineOwn(o: object, name: string, value: unknown): void {
  Object.defineProperty(o, name, { value, writable: true, enumerable: true, configurable: true });
}

/** Row class used on a statement's first execution (no code generation). */
export function genericRowClass(names: readonly string[]): RowCtor {
  const { own, hidden } = layoutOf(names);
  const ownNames = own.map((i) => names[i]!);
  class GenericRow {
    #h: unknown[] | undefined;
    constructor(r: unknown[]) {
      const self = this as unknown as Record<string, unknown>;
      for (let k = 0; k < own.length; k++) {
        const name = ownNames[k]!;
        if (name === "__proto__") defineOwn(this, name, r[own[k]!]);
        else self[name] = r[own[k]!];
      }
      if (hidden.length > 0) this.#h = hidden.map((i) => r[i]);
    }
    static hiddenOf(o: GenericRow): unknown[] {
      return o.#h!;
    }
  }
  const desc: PropertyDescriptorMap = { length: { get: () => names.length } };
  names.forEach((name, i) => {
    const slot = hidden.indexOf(i);
    desc[i] =
      slot < 0
        ? {
            get(this: Record<string, unknown>) {
              return this[name];
            },
          }
        : {
            get(this: GenericRow) {
              return GenericRow.hiddenOf(this)[slot];
            },
          };
  });
  Object.defineProperties(GenericRow.prototype, desc);
  return GenericRow as unknown as RowCtor;
}

/**
 * Same shape as {@link genericRowClass}, but generated code with one
 * monomorphic store per column (much faster to build: BENCHMARKS.md,
 * "Local driver"). Used from a
 * statement's second execution on; undefined if code generation is
 * disallowed (`--disallow-code-generation-from-strings`).
 */
export function compileRowClass(names: readonly string[]): RowCtor | undefined {
  const { own, hidden } = layoutOf(names);
  const lit = (s: string) => JSON.stringify(s);
  let src = '"use strict";\nreturn class Row {\n';
  if (hidden.length > 0) src += "#h;\n";
  src += "constructor(r) {\n";
  for (const i of own) {
    const name = names[i]!;
    src +=
      name === "__proto__"
        ? `Object.defineProperty(this, "__proto__", { value: r[${i}], writable: true, enumerable: true, configurable: true });\n`
        : `this[${lit(name)}] = r[${i}];\n`;
  }
  if (hidden.length > 0) src += `this.#h = [${hidden.map((i) => `r[${i}]`).join(", ")}];\n`;
  src += "}\n";
  for (let i = 0; i < names.length; i++) {
    const slot = hidden.indexOf(i);
    src += `get ${i}() { return ${slot < 0 ? `this[${lit(names[i]!)}]` : `this.#h[${slot}]`}; }\n`;
  }
  src += `get length() { return ${names.length}; }\n};\n`;
  try {
    return new Function(src)() as RowCtor;
  } catch {
    return undefined;
  }
}

/**
 * Converts native rows in place (BLOB → ArrayBuffer, 64-bit integers per
 * `intMode`) and wraps each in a `Ctor` row. With `fast` (read without safeIntegers)
 * returns null as soon as a number beyond ±2^53-1 shows up: it may have lost
 * precision, and the caller reads the rows again exactly.
 */
export function wrapRows(
  Ctor: RowCtor,
  width: number,
  raws: unknown[][],
  fast: boolean,
  intMode: IntMode,
): Row[] | null {
  const n = raws.length;
  const out = new Array<Row>(n);
  for (let i = 0; i < n; i++) {
    const raw = raws[i]!;
    for (let j = 0; j < width; j++) {
      const v = raw[j];
      if (typeof v === "number") {
        if (fast && (v > MAX_SAFE || v < -MAX_SAFE)) return null;
      } else if (typeof v === "object") {
        if (v !== null) raw[j] = blobToArrayBuffer(v as Uint8Array);
      } else if (typeof v === "bigint") {
        raw[j] = bigintToValue(v, intMode);
      }
    }
    out[i] = new Ctor(raw);
  }
  return out;
}

/**
 * `ResultSet` as `@libsql/client` defines it. `columns`/`columnTypes` are
 * shared with the statement cache and therefore frozen.
 */
export class LocalResultSet implements ResultSet {
  constructor(
    public columns: Array<string>,
    public columnTypes: Array<string>,
    public rows: Array<Row>,
    public rowsAffected: number,
    public lastInsertRowid: bigint | undefined,
  ) {}

  toJSON(): unknown {
    return {
      columns: this.columns,
      columnTypes: this.columnTypes,
      rows: this.rows.map((row) => Array.prototype.map.call(row, valueToJson)),
      rowsAffected: this.rowsAffected,
      lastInsertRowid: this.lastInsertRowid !== undefined ? `${this.lastInsertRowid}` : null,
    };
  }
}

function valueToJson(v: unknown): unknown {
  if (typeof v === "bigint") return `${v}`;
  if (v instanceof ArrayBuffer) return Buffer.from(v).toString("base64");
  return v;
}
