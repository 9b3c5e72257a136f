/**
 * SQLite result codes, and the one question every retry loop asks of them:
 * "another connection holds a lock — may a later attempt succeed?". Web-safe
 * (no driver imports): the local client and the remote retry both use it.
 */
import { gather } from "./chain";

/** Base result code (`rawCode & 0xff`) → its name. */
export const SQLITE_BASE_CODES: Readonly<Record<number, string>> = {
  1: "SQLITE_ERROR",
  2: "SQLITE_INTERNAL",
  3: "SQLITE_PERM",
  4: "SQLITE_ABORT",
  5: "SQLITE_BUSY",
  6: "SQLITE_LOCKED",
  7: "SQLITE_NOMEM",
  8: "SQLITE_READONLY",
  9: "SQLITE_INTERRUPT",
  10: "SQLITE_IOERR",
  11: "SQLITE_CORRUPT",
  12: "SQLITE_NOTFOUND",
  13: "SQLITE_FULL",
  14: "SQLITE_CANTOPEN",
  15: "SQLITE_PROTOCOL",
  16: "SQLITE_EMPTY",
  17: "SQLITE_SCHEMA",
  18: "SQLITE_TOOBIG",
  19: "SQLITE_CONSTRAINT",
  20: "SQLITE_MISMATCH",
  21: "SQLITE_MISUSE",
  22: "SQLITE_NOLFS",
  23: "SQLITE_AUTH",
  24: "SQLITE_FORMAT",
  25: "SQLITE_RANGE",
  26: "SQLITE_NOTADB",
  27: "SQLITE_NOTICE",
  28: "SQLITE_WARNING",
};

/**
 * Base SQLite code name of one error (not its causes): `SQLITE_BUSY` for
 * `SQLITE_BUSY_SNAPSHOT`, from the numeric `rawCode` when the error has one,
 * else its `code` if that is an SQLite code.
 */
export function sqliteBaseCode(err: { code?: unknown; rawCode?: unknown }): string | undefined {
  if (typeof err.rawCode === "number")
    return SQLITE_BASE_CODES[err.rawCode & 0xff] ?? `SQLITE_UNKNOWN_${err.rawCode & 0xff}`;
  return typeof err.code === "string" && err.code.startsWith("SQLITE_") ? err.code : undefined;
}

/** SQLITE_BUSY* / SQLITE_LOCKED*: another connection holds a lock; retrying later may succeed. */
export function isLockCode(code: string | undefined): boolean {
  return code !== undefined && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"));
}

/** True for SQLITE_BUSY*, SQLITE_LOCKED* or sqld's "database is locked", anywhere in the cause chain. */
export function isLockedError(err: unknown): boolean {
  const { codes, text } = gather(err);
  return codes.some(isLockCode) || /database (table )?is locked|SQLITE_BUSY/.test(text);
}
