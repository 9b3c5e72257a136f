import { ValidationError } from "./errors";

/**
 * Argument checks shared by every repository. They run before any statement is
 * sent, so a bad argument costs no round trip and writes nothing. Each returns
 * the value in the form the column stores.
 */

function describe(value: unknown): string {
  if (typeof value === "string")
    return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (value instanceof Date) return "a Date";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}

/** A row id: a non-negative safe integer. */
export function id(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new ValidationError(`${field} must be a non-negative integer, got ${describe(value)}`, { field });
  }
  return value;
}

/** A count (shards, samples, actors …): a non-negative safe integer. */
export const count = id;

export function optionalCount(value: unknown, field: string): number | undefined {
  return value === undefined ? undefined : count(value, field);
}

export function nullableCount(value: unknown, field: string): number | null {
  return value === undefined || value === null ? null : count(value, field);
}

/** A duration in seconds: a finite, non-negative number. */
export function duration(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new ValidationError(`${field} must be a finite number of seconds >= 0, got ${describe(value)}`, { field });
  }
  return value;
}

/** An amount that may be fractional (CPUs or GPUs per actor: 0.5 shares a device): finite, >= 0. */
export function amount(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new ValidationError(`${field} must be a finite number >= 0, got ${describe(value)}`, { field });
  }
  return value;
}

/** A boolean (no truthy strings or numbers). */
export function flag(value: unknown, field: string): boolean {
  if (typeof value !== "boolean")
    throw new ValidationError(`${field} must be a boolean, got ${describe(value)}`, { field });
  return value;
}

/** Free text. Must be well-formed UTF-16 so it is stored exactly (a lone surrogate would be replaced). */
export function text(value: unknown, field: string, opts: { nonEmpty?: boolean } = {}): string {
  if (typeof value !== "string") {
    throw new ValidationError(`${field} must be a string, got ${describe(value)}`, { field });
  }
  if (opts.nonEmpty && value.length === 0) {
    throw new ValidationError(`${field} must not be empty`, { field });
  }
  if (!value.isWellFormed()) {
    throw new ValidationError(`${field} contains a lone surrogate and cannot be stored exactly`, { field });
  }
  if (value.includes("\u0000")) {
    // libSQL binds text as C strings: everything after a NUL would be silently cut off.
    throw new ValidationError(`${field} contains a NUL character (U+0000), which cannot be stored exactly`, { field });
  }
  return value;
}

export function nullableText(value: unknown, field: string): string | null {
  return value === undefined || value === null ? null : text(value, field);
}

/** One of a fixed set of values (a status or an operation). */
export function oneOf<const T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw new ValidationError(
      `${field} must be one of ${allowed.map((s) => `"${s}"`).join(", ")}, got ${describe(value)}`,
      {
        field,
      },
    );
  }
  return value as T;
}

const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):?(\d{2}))?)?$/;

/** True when the ISO string names a real calendar date and clock time (JS would shift 2024-02-30 to March 1st). */
function realCalendarTime(m: RegExpExecArray): boolean {
  const [, y, mo, d, h = "0", mi = "0", sec = "0", oh = "0", om = "0"] = m;
  const year = Number(y),
    month = Number(mo),
    day = Number(d);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    Number(h) <= 23 &&
    Number(mi) <= 59 &&
    Number(sec) <= 59 &&
    Number(oh) <= 23 &&
    Number(om) <= 59
  );
}

/** A point in time: a valid `Date` or an ISO-8601 string naming a real date. */
export function time(value: unknown, field: string): Date {
  let date: Date | undefined;
  if (value instanceof Date) date = new Date(value.getTime());
  else if (typeof value === "string") {
    const m = ISO_8601.exec(value);
    if (m && realCalendarTime(m)) date = new Date(value);
  }
  if (date === undefined || Number.isNaN(date.getTime())) {
    throw new ValidationError(`${field} must be a valid Date or ISO-8601 string, got ${describe(value)}`, { field });
  }
  return date;
}

export function optionalTime(value: unknown, field: string): Date {
  return value === undefined ? new Date() : time(value, field);
}

/**
 * Any JSON value that survives `JSON.stringify` → `JSON.parse` unchanged:
 * null, booleans, finite numbers, well-formed strings, arrays and plain
 * objects of those. Rejects what JSON would silently drop or alter
 * (undefined, functions, NaN/Infinity, Dates, Maps, class instances, cycles).
 */
export function json(value: unknown, field: string): unknown {
  const seen = new Set<object>();
  const check = (v: unknown, path: string): void => {
    if (v === null || typeof v === "boolean") return;
    if (typeof v === "number") {
      if (!Number.isFinite(v)) fail(path, `${describe(v)} is not representable in JSON`);
      return;
    }
    if (typeof v === "string") {
      if (!v.isWellFormed()) fail(path, "a string with a lone surrogate");
      return;
    }
    if (typeof v !== "object") fail(path, `${describe(v)} is not JSON-serialisable`);
    const obj = v as object;
    if (seen.has(obj)) fail(path, "a circular reference");
    seen.add(obj);
    if (Array.isArray(obj)) {
      for (let i = 0; i < obj.length; i++) {
        if (!(i in obj)) fail(`${path}[${i}]`, "an array hole");
        check(obj[i], `${path}[${i}]`);
      }
    } else {
      const proto = Object.getPrototypeOf(obj);
      if (proto !== Object.prototype && proto !== null)
        fail(path, `an instance of ${proto?.constructor?.name ?? "a class"}`);
      for (const key of Object.keys(obj)) {
        if (!key.isWellFormed()) fail(path, "a key with a lone surrogate");
        check((obj as Record<string, unknown>)[key], `${path}.${key}`);
      }
    }
    seen.delete(obj);
  };
  const fail = (path: string, what: string): never => {
    throw new ValidationError(`${field} must be JSON-serialisable: ${path} is ${what}`, { field });
  };
  check(value, field);
  return value;
}

export function optionalJson(value: unknown, field: string): unknown {
  return value === undefined ? null : json(value, field);
}

/** Rejects anything but a plain object for an options argument. */
export function record(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ValidationError(`${field} must be an object, got ${describe(value)}`, { field });
  }
  return value as Record<string, unknown>;
}
