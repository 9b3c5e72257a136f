/**
 * Typed reads of the Python module's rows for the import: each value checked
 * and converted (ids and counts, numbers, times, statuses, JSON payloads), and
 * every refusal a `LegacyImportError` ("bad-row") naming the file, the table,
 * the row and the column. One reader per table, moved from row to row with
 * `at` (no objects made per row: an import may read 100 000 of them).
 */
import { LegacyImportError } from "../errors";
import { LEGACY_TABLES, type LegacyRow, type LegacyTable } from "./read";
import { legacyTime, type NaiveTimes } from "./time";

const INTEGER_TEXT = /^\s*-?\d+(\.0*)?\s*$/;

/** Typed access to one table's rows, with errors naming the file, table, row and column. */
export class RowReader {
  #row: LegacyRow = {};
  /** The current row's legacy id. */
  id = 0;

  constructor(
    readonly path: string,
    readonly table: LegacyTable,
    readonly naive: NaiveTimes,
  ) {}

  /** Moves to `row`; returns the reader, for chaining. */
  at(row: LegacyRow): this {
    this.#row = row;
    this.id = Number(row[LEGACY_TABLES[this.table]]);
    return this;
  }

  bad(what: string): LegacyImportError {
    return new LegacyImportError(
      `${this.path}: ${this.table} row ${this.id}: ${what}; nothing was imported`,
      "bad-row",
    );
  }

  required<T>(value: T | null, column: string): T {
    if (value === null) throw this.bad(`${column} is empty`);
    return value;
  }

  text(column: string): string | null {
    const v = this.#row[column];
    if (v === null || v === undefined) return null;
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "bigint") return String(v);
    throw this.bad(`${column} is not text`);
  }

  /** A count or an id (a non-negative safe integer); `blankIsNull`: '' reads as null (6dd53c1's current_shard_id). */
  int(column: string, blankIsNull = false): number | null {
    const v = this.#row[column];
    if (v === null || v === undefined || (blankIsNull && v === "")) return null;
    const n = typeof v === "string" && INTEGER_TEXT.test(v) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
      throw this.bad(`${column} is not a count or id: ${show(v)}`);
    }
    return n;
  }

  /** A number >= 0 (resources, durations). */
  real(column: string): number | null {
    const v = this.#row[column];
    if (v === null || v === undefined) return null;
    const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isFinite(n) || n < 0)
      throw this.bad(`${column} is not a number >= 0: ${show(v)}`);
    return n;
  }

  /** Epoch ms (see time.ts), or null. */
  time(column: string): number | null {
    const ms = legacyTime(this.#row[column], this.naive);
    if (ms === undefined) throw this.bad(`${column} is not a time: ${show(this.#row[column])}`);
    return ms;
  }

  /** duration_seconds; a negative one (a clock step while it ran) is dropped rather than refused. */
  duration(): number | null {
    const v = this.#row.duration_seconds;
    return typeof v === "number" && v < 0 ? null : this.real("duration_seconds");
  }

  status<S extends string>(allowed: readonly S[], column = "status"): S {
    const v = this.#row[column];
    if (typeof v === "string" && (allowed as readonly string[]).includes(v)) return v as S;
    throw this.bad(`unknown ${column} ${show(v)} (expected one of ${allowed.join(", ")})`);
  }

  /** A JSON column: parsed; a value that is not JSON is kept as that string. */
  payload(column: string): unknown {
    const v = this.text(column);
    if (v === null || v === "") return null;
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  }
}

function show(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v) : String(v);
}
