/**
 * Looking into a local SQLite file without changing anything on disk (Node only).
 *
 * Three traps, all measured with libsql 0.5 (the first with Python's sqlite3 too):
 *
 * 1. A read-only (`mode=ro`) connection to a WAL-mode file *creates* the
 *    `-wal` and `-shm` files beside it when they are missing, and leaves them
 *    behind (as root even in a read-only directory). So a WAL file with no
 *    `-wal` is read with `immutable=1` (no locks, no side files): everything
 *    committed is then in the main file. A file with a `-wal` (a connection is
 *    open, or one crashed) is read with `mode=ro`, through its WAL; a
 *    rollback-journal file with `mode=ro` (a shared lock, no side files).
 *
 * 2. Closing *any* descriptor of a file drops every POSIX lock this process
 *    holds on it (SQLite's locks are fcntl locks). Reading the 100-byte header
 *    with `fs`, or closing an `immutable` connection (which skips SQLite's lock
 *    bookkeeping), while another connection of this process has the file open
 *    took that connection's WAL locks away: another process then checkpointed
 *    and deleted the `-shm` under it, and its next write ignored another
 *    process's lock (tests/reliability/busy.test.ts). A connection to a WAL
 *    file always has its `-wal` open, and a writing rollback-mode one its
 *    `-journal`; so with either present the file is only ever touched through
 *    SQLite with `mode=ro`, and the header is read (and `immutable` used) only
 *    when neither exists. The peek is synchronous: nothing else of this
 *    process opens the file meanwhile.
 *
 * 3. libsql cannot finalize a prepared statement, and `close()` leaves a
 *    connection with statements open (SQLite's zombie state) until they are
 *    garbage-collected, holding its files. So the file is never a connection's
 *    main database here: it is ATTACHed to a private `:memory:` connection and
 *    DETACHed when done, which closes it at once whatever statements remain.
 *
 * The main file's bytes never change, in any of these cases.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { pathToFileURL } from "node:url";
import Database from "libsql";
import {
  classifySchema,
  groupColumns,
  legacySchemaError,
  type SchemaKind,
  type TableColumns,
  tableColumnsSql,
} from "./schema";

/** What the first 100 bytes say about a file. */
export type FileKind = "missing" | "empty" | "not-sqlite" | "sqlite";

/** The schema name the file is attached under. */
export const SOURCE = "src";

const MAGIC = "SQLite format 3\0";

/** Size of a file, or -1 when it does not exist (or cannot be stat-ed). */
function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

/**
 * Reads the SQLite header: is it a plain (unencrypted) SQLite file, and in WAL
 * mode? Opens the file with `fs`: only call it when no connection of this
 * process can hold locks on it (trap 2; `inspect` knows when).
 */
function sqliteHeader(path: string): { kind: "not-sqlite" | "sqlite"; wal: boolean } {
  const buf = Buffer.alloc(100);
  let fd: number | undefined;
  let n = 0;
  try {
    fd = openSync(path, "r");
    n = readSync(fd, buf, 0, 100, 0);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (n < 100 || buf.toString("latin1", 0, 16) !== MAGIC) return { kind: "not-sqlite", wal: false };
  // Bytes 18/19: file format write/read version, 2 = WAL.
  return { kind: "sqlite", wal: buf[18] === 2 || buf[19] === 2 };
}

/**
 * What a file is, as far as can be told without a connection, and the URI
 * that reads it without writing anything (traps 1 and 2 above). `maybe-sqlite`:
 * side files exist, so the header is left to SQLite.
 * @example inspect("/home/me/db/rapidfire.db") // { kind: "sqlite", uri: "file:///home/me/db/rapidfire.db?immutable=1" }
 */
export function inspect(path: string): { kind: FileKind | "maybe-sqlite"; uri: string } {
  const url = pathToFileURL(path).href;
  const size = sizeOf(path);
  if (size < 0) return { kind: "missing", uri: "" };
  if (size === 0) return { kind: "empty", uri: "" };
  if (sizeOf(`${path}-wal`) >= 0 || sizeOf(`${path}-journal`) >= 0)
    return { kind: "maybe-sqlite", uri: `${url}?mode=ro` };
  const header = sqliteHeader(path);
  if (header.kind !== "sqlite") return { kind: header.kind, uri: "" };
  return { kind: "sqlite", uri: header.wal ? `${url}?immutable=1` : `${url}?mode=ro` };
}

/** A file opened read-only as schema `src` of a private in-memory connection. */
export interface ReadOnlyFile {
  readonly db: Database.Database;
  /** Detaches the file (closing it at once) and closes the connection. Idempotent. */
  close(): void;
}

/**
 * Attaches `uri` (from `inspect`) read-only as `src` of a private in-memory
 * connection (trap 3). Throws what libsql throws (not a database, a hot
 * journal that would need a rollback …).
 * @example const f = openReadOnly(inspect(path).uri); try { … f.db.prepare("SELECT … FROM src.pipelines") … } finally { f.close(); }
 */
export function openReadOnly(uri: string, busyTimeoutMs = 1000): ReadOnlyFile {
  const db = new Database(":memory:");
  let attached = false;
  const close = () => {
    try {
      if (attached) db.exec(`DETACH DATABASE ${SOURCE}`);
      attached = false;
    } finally {
      db.close();
    }
  };
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.floor(busyTimeoutMs)}`);
    // The URI is bound, not spliced: a path may hold quotes.
    db.prepare(`ATTACH DATABASE ? AS ${SOURCE}`).run(uri);
    attached = true;
    return { db, close };
  } catch (err) {
    close();
    throw err;
  }
}

/** Tables of the attached file with their columns. */
export function columnsOf(file: ReadOnlyFile): TableColumns {
  return groupColumns(file.db.prepare(tableColumnsSql(SOURCE)).raw(true).all() as unknown[][]);
}

/**
 * The schema of a local file, read without writing; `null` when there is
 * nothing to look at (missing, empty, not plain SQLite) or it cannot be read.
 */
export function peekSchema(path: string): SchemaKind | null {
  const { kind, uri } = inspect(path);
  if (kind !== "sqlite" && kind !== "maybe-sqlite") return null;
  let file: ReadOnlyFile | undefined;
  try {
    file = openReadOnly(uri);
    return classifySchema(columnsOf(file));
  } catch {
    return null; // the real open reports what is wrong with the file
  } finally {
    file?.close();
  }
}

/**
 * Called before a local file is opened for writing (which switches it to WAL
 * and migrates it): a legacy Python database is refused with a
 * `SchemaVersionError` naming `rf-db import`, before anything touches it.
 * Costs one read-only open (about a millisecond) when the file exists.
 * Returns what it saw (the caller also refuses a database made by `drizzle-kit push`).
 * `importArgs`: what to pass `rf-db import` to move this file (e.g. `--url file:…`).
 */
export function assertNotLegacyFile(path: string, importArgs: string): SchemaKind | null {
  const schema = peekSchema(path);
  if (schema?.kind === "legacy") throw legacySchemaError(`the database file ${path}`, schema.version, importArgs);
  return schema;
}
