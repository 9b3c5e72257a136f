/**
 * Values across the native boundary: arguments from JS to what the `libsql`
 * binding accepts, and SQLite's integers and BLOBs back to what
 * `@libsql/client` returns. `undefined` binds as NULL (the sqlite3 client
 * throws); a named-argument object for a statement with bare `?`
 * placeholders is refused (ARGS_INVALID) because the binding would panic.
 */
import { Buffer } from "node:buffer";
import type { InArgs, IntMode, Value } from "@libsql/client";
import { LibsqlError } from "@libsql/core/api";
import type { SqlInfo } from "./sql-scan";

export const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MIN_SAFE_BIG = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_I64 = -9223372036854775808n;
const MAX_I64 = 9223372036854775807n;

export type Bound = unknown[] | Record<string, unknown>;
export const EMPTY_ARGS: unknown[] = Object.freeze([]) as unknown as unknown[];
export const EMPTY_STRINGS: string[] = Object.freeze([]) as unknown as string[];

/**
 * One JS argument → what the native binding accepts (it panics on booleans
 * and mis-handles the rest). A boolean binds as `@libsql/client` binds it:
 * an integer, `1n`/`0n` with intMode "bigint" (a number there would bind as
 * REAL), `"1"`/`"0"` with intMode "string".
 */
function toSqlValue(v: unknown, intMode: IntMode): unknown {
  switch (typeof v) {
    case "string":
      return v;
    case "number":
      if (!Number.isFinite(v))
        throw new RangeError("Only finite numbers (not Infinity or NaN) can be passed as arguments");
      return v;
    case "bigint":
      if (v < MIN_I64 || v > MAX_I64)
        throw new RangeError("bigint is too large to be represented as a 64-bit integer and passed as argument");
      return v;
    case "boolean":
      return intMode === "number" ? (v ? 1 : 0) : intMode === "bigint" ? (v ? 1n : 0n) : v ? "1" : "0";
    case "undefined":
      return null;
    case "object":
      if (v === null || v instanceof Uint8Array) return v;
      if (v instanceof ArrayBuffer) return Buffer.from(v);
      if (v instanceof Date) {
        const t = v.valueOf();
        if (!Number.isFinite(t)) throw new RangeError("Invalid Date cannot be passed as argument");
        return t;
      }
      throw new TypeError(`Unsupported argument type: ${Object.prototype.toString.call(v)}`);
    default:
      throw new TypeError(`Unsupported argument type: ${typeof v}`);
  }
}

/** Converts arguments; copies an array only when some element needs converting. */
export function bindArgs(args: InArgs, info: SqlInfo, intMode: IntMode): Bound {
  if (Array.isArray(args)) {
    let out: unknown[] = args;
    for (let i = 0; i < args.length; i++) {
      const v: unknown = args[i];
      if (typeof v === "string" || v === null) continue;
      const c = toSqlValue(v, intMode);
      if (c !== v) {
        if (out === args) out = args.slice();
        out[i] = c;
      }
    }
    return out;
  }
  if (args === null || typeof args !== "object")
    throw new TypeError("Statement arguments must be an array or an object");
  if (info.anonymousParams > 0) {
    throw new LibsqlError(
      "Named arguments were given, but the statement uses '?' placeholders; pass an array",
      "ARGS_INVALID",
    );
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(args)) {
    const c0 = key.charCodeAt(0);
    const name = c0 === 58 /* : */ || c0 === 64 /* @ */ || c0 === 36 /* $ */ ? key.slice(1) : key;
    out[name] = toSqlValue((args as Record<string, unknown>)[key], intMode);
  }
  return out;
}

/** A BLOB as `@libsql/client` returns it: an ArrayBuffer (copied only when the view does not span its buffer). */
export function blobToArrayBuffer(b: Uint8Array): ArrayBuffer {
  const buf = b.buffer;
  if (b.byteOffset === 0 && b.byteLength === buf.byteLength && buf instanceof ArrayBuffer) return buf;
  return buf.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** A 64-bit integer in the client's `intMode` (RangeError if "number" would lose precision). */
export function bigintToValue(v: bigint, intMode: IntMode): Value {
  if (intMode === "number") {
    if (v < MIN_SAFE_BIG || v > MAX_SAFE_BIG)
      throw new RangeError("Received integer which cannot be safely represented as a JavaScript number");
    return Number(v);
  }
  return intMode === "bigint" ? v : `${v}`;
}
