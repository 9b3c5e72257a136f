/**
 * Errors as `@libsql/client` reports them: the native binding's SqliteError
 * becomes a LibsqlError whose `code` is the most specific SQLite code libsql
 * reports (`SQLITE_CONSTRAINT_CHECK`, not `SQLITE_CONSTRAINT`), `extendedCode`
 * the same string and `rawCode` the number. The typed errors of the package
 * are made from these later, by mapDriverError (src/errors).
 */
import Database from "libsql";
import { LibsqlBatchError, LibsqlError } from "@libsql/core/api";
import { isLockCode, SQLITE_BASE_CODES, sqliteBaseCode } from "../../errors";

/**
 * True for SQLITE_BUSY* / SQLITE_LOCKED* raised by this connection (the error
 * itself, not its causes): another connection holds a lock; retrying later may succeed.
 */
export function isBusyError(err: unknown): boolean {
  return err instanceof LibsqlError && isLockCode(sqliteBaseCode(err));
}

/**
 * Errors the native binding raises without a code, whose SQLite result code
 * is only in the message: an open that failed (`ConnectionFailed("Unable to
 * open connection to local database <path>: 14")`) and an embedded replica's
 * write refused by the primary (`RemoteSqliteFailure(3, 787, "FOREIGN KEY
 * constraint failed")`, the extended code second).
 */
const CODED_MESSAGES: readonly [RegExp, (m: RegExpMatchArray) => { rawCode: number; message: string }][] = [
  [/^ConnectionFailed\("(.*): (\d+)"\)$/s, (m) => ({ rawCode: Number(m[2]), message: m[1]! })],
  [/^RemoteSqliteFailure\(\d+, (\d+), "(.*)"\)$/s, (m) => ({ rawCode: Number(m[1]), message: m[2]! })],
];

function fromMessage(e: Error): LibsqlError | undefined {
  for (const [re, read] of CODED_MESSAGES) {
    const m = e.message.match(re);
    if (!m) continue;
    const { rawCode, message } = read(m);
    const code = SQLITE_BASE_CODES[rawCode & 0xff] ?? "SQLITE_UNKNOWN";
    return new LibsqlError(message, code, code, rawCode, e);
  }
  return undefined;
}

/** Turns libsql's SqliteError into a LibsqlError (other errors, e.g. RangeError for bad arguments, pass through). */
export function toLibsqlError(e: unknown): unknown {
  if (e instanceof LibsqlError) return e;
  if (e instanceof Error && !(e as { code?: unknown }).code) {
    const coded = fromMessage(e);
    if (coded) return coded;
  }
  if (e !== null && typeof e === "object") {
    const se = e as { code?: unknown; rawCode?: unknown; message?: unknown };
    const rawCode = typeof se.rawCode === "number" ? se.rawCode : undefined;
    let code = typeof se.code === "string" && se.code.startsWith("SQLITE_") ? se.code : undefined;
    if (code === undefined && !(e instanceof Database.SqliteError)) return e;
    if ((code === undefined || code === "SQLITE_UNKNOWN") && rawCode !== undefined)
      code = SQLITE_BASE_CODES[rawCode & 0xff] ?? code;
    code ??= "SQLITE_UNKNOWN";
    return new LibsqlError(String(se.message ?? ""), code, code, rawCode, e instanceof Error ? e : undefined);
  }
  return e;
}

/** The error of statement `index` of a batch, as a LibsqlBatchError carrying that index. */
export function toBatchError(e: unknown, index: number): unknown {
  if (e instanceof LibsqlBatchError || !(e instanceof LibsqlError)) return e;
  // Rebuild from the driver's own message so the code is not prefixed twice.
  const message = e.cause instanceof Error ? e.cause.message : e.message;
  return new LibsqlBatchError(
    message,
    index,
    e.code,
    e.extendedCode,
    e.rawCode,
    e.cause instanceof Error ? e.cause : undefined,
  );
}

export const clientClosedError = () => new LibsqlError("The client is closed", "CLIENT_CLOSED");
export const txClosedError = () => new LibsqlError("The transaction is closed", "TRANSACTION_CLOSED");
