/**
 * Errors as `@libsql/client` reports them: the native binding's SqliteError
 * becomes a LibsqlError whose `code` is the base SQLite code
 * (`SQLITE_CONSTRAINT`), `extendedCode` the most specific one libsql names
 * (`SQLITE_CONSTRAINT_CHECK`) and `rawCode` the number — exactly as the
 * official client's sqlite3 driver maps them. The typed errors of the
 * package are made from these later, by mapDriverError (src/errors).
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

/** Names of the extended codes a replica's refused write carries only as a number. */
const EXTENDED_NAMES: Readonly<Record<number, string>> = {
  275: "SQLITE_CONSTRAINT_CHECK",
  787: "SQLITE_CONSTRAINT_FOREIGNKEY",
  1299: "SQLITE_CONSTRAINT_NOTNULL",
  1555: "SQLITE_CONSTRAINT_PRIMARYKEY",
  2067: "SQLITE_CONSTRAINT_UNIQUE",
};

/** The base code's name for a raw code, as `@libsql/client` names it. */
function baseName(rawCode: number): string {
  return SQLITE_BASE_CODES[rawCode & 0xff] ?? `SQLITE_UNKNOWN_${rawCode & 0xff}`;
}

function fromMessage(e: Error): LibsqlError | undefined {
  for (const [re, read] of CODED_MESSAGES) {
    const m = e.message.match(re);
    if (!m) continue;
    const { rawCode, message } = read(m);
    const code = baseName(rawCode);
    return new LibsqlError(message, code, EXTENDED_NAMES[rawCode] ?? code, rawCode, e);
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
    const named = typeof se.code === "string" && /^(SQLITE_|UNKNOWN_SQLITE_ERROR)/.test(se.code) ? se.code : undefined;
    if (named === undefined && !(e instanceof Database.SqliteError)) return e;
    const code = rawCode !== undefined ? baseName(rawCode) : (named && baseOf(named)) || "SQLITE_UNKNOWN";
    return new LibsqlError(String(se.message ?? ""), code, named ?? code, rawCode, e instanceof Error ? e : undefined);
  }
  return e;
}

/** The base code within an extended code's name (`SQLITE_CONSTRAINT_CHECK` → `SQLITE_CONSTRAINT`). */
function baseOf(name: string): string | undefined {
  let best: string | undefined;
  for (const base of Object.values(SQLITE_BASE_CODES))
    if ((name === base || name.startsWith(`${base}_`)) && (best === undefined || base.length > best.length))
      best = base;
  return best;
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
