/**
 * Storage failures — what the file system or SQLite's pager reports when the
 * bytes cannot be written or read — recognised in a driver error's cause chain
 * and named once, so that every backend and every call says the same thing.
 * Web-safe: only strings are compared (SQLite codes and messages, Node's errno
 * codes when the package itself touched the file system).
 */
import { type Facts, scrub } from "./chain";
import { StorageError, type StorageReason } from "./classes";

/**
 * Each reason's codes (SQLite's, extended ones included, or Node's errno when
 * the package itself touched the file system) and SQLite's own words for it
 * (sqld may send only the words). The first reason that matches wins.
 */
const SIGNS: readonly { reason: StorageReason; codes: readonly string[]; texts: readonly string[] }[] = [
  { reason: "full", codes: ["SQLITE_FULL", "ENOSPC", "EDQUOT", "EFBIG"], texts: ["database or disk is full"] },
  { reason: "read-only", codes: ["SQLITE_READONLY", "EROFS"], texts: ["attempt to write a readonly database"] },
  { reason: "not-a-database", codes: ["SQLITE_NOTADB"], texts: ["file is not a database"] },
  { reason: "corrupt", codes: ["SQLITE_CORRUPT"], texts: ["database disk image is malformed"] },
  {
    reason: "cannot-open",
    codes: ["SQLITE_CANTOPEN", "EACCES", "EPERM", "ENOTDIR", "EISDIR", "ENOENT", "EEXIST"],
    texts: ["unable to open database file"],
  },
  { reason: "io", codes: ["SQLITE_IOERR", "EIO"], texts: ["disk I/O error"] },
];

const WORDS: Readonly<Record<StorageReason, string>> = {
  full: "the disk is full (or the file size limit was reached)",
  io: "an I/O error occurred reading or writing the file",
  "read-only":
    "the database is read-only (opened with readOnly or ?mode=ro, or the file or its directory is not writable)",
  "cannot-open": "the file cannot be opened (missing or unwritable directory, permissions, or not a regular file)",
  "not-a-database": "the file is not a database, or it is encrypted and needs the right encryptionKey",
  corrupt: "the database file is corrupt",
};

/** The storage reason the facts of an error chain show, if any. */
export function storageReason(f: Facts): StorageReason | undefined {
  for (const { reason, codes, texts } of SIGNS) {
    if (f.codes.some((c) => codes.some((s) => c === s || c.startsWith(`${s}_`)))) return reason;
    if (texts.some((t) => f.text.includes(t))) return reason;
  }
  return undefined;
}

/** The StorageError for `reason` on `database` (a path or a URL without credentials). */
export function storageError(
  reason: StorageReason,
  database: string | undefined,
  detail: string,
  cause: unknown,
  secret?: string,
): StorageError {
  const where = database === undefined ? "the database" : database;
  return new StorageError(
    `${where}: ${WORDS[reason]}; the call wrote nothing (${scrub(detail, secret)})`,
    reason,
    database,
    {
      cause,
    },
  );
}
