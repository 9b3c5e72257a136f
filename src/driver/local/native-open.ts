/**
 * Opening the native handle: the file's name as SQLite needs it (a URI for
 * read-only and must-exist opens), libSQL's encryption at rest, the embedded
 * replica's settings — and, for a read-only open in a directory this process
 * cannot write, the one safe fallback — then the connection's PRAGMAs.
 */
import { existsSync, statSync } from "node:fs";
import Database from "libsql";
import { toLibsqlError } from "./libsql-errors";
import type { ResolvedOptions } from "./options";

/** SQLite's URI for a file path: every byte a URI could misread (`?`, `#`, `%` …) percent-encoded. */
function fileUri(path: string, params: string): string {
  return `file:${path.split("/").map(encodeURIComponent).join("/")}?${params}`;
}

/** SQLITE_READONLY_CANTINIT, SQLITE_READONLY_DIRECTORY: a reader of a WAL database cannot create its -shm. */
const CANNOT_MAKE_SHM = new Set([1288, 1544]);

/**
 * Opens `o.path` with libsql; throws LibsqlError. A read-only open is
 * verified with a read (SQLite opens lazily), so "not a database" and "cannot
 * open" surface here, at open.
 */
export function openNative(o: ResolvedOptions): Database.Database {
  const options: Record<string, unknown> = {};
  if (o.encryptionKey !== undefined) options.encryptionKey = o.encryptionKey;
  if (o.sync !== undefined) {
    options.syncUrl = o.sync.url;
    if (o.sync.authToken !== undefined) options.authToken = o.sync.authToken;
    if (o.sync.intervalSeconds > 0) options.syncPeriod = o.sync.intervalSeconds;
  }
  if (!o.readOnly) return open(o.mustExist ? fileUri(o.path, "mode=rw") : o.path, options);
  const db = open(fileUri(o.path, "mode=ro"), options);
  try {
    firstRead(db);
    return db;
  } catch (e) {
    db.close();
    const raw = (e as { rawCode?: unknown }).rawCode;
    // The directory is not writable and no -shm exists, so no process has the WAL
    // database open (the last one to close removes -wal and -shm) and none can
    // (it would have to create them): the file alone is the whole database, and
    // SQLite may read it as immutable. Never when a -wal with content exists: its
    // commits would be ignored.
    if (typeof raw !== "number" || !CANNOT_MAKE_SHM.has(raw) || walHasContent(o.path)) throw e;
  }
  const immutable = open(fileUri(o.path, "mode=ro&immutable=1"), options);
  try {
    firstRead(immutable);
  } catch (e) {
    immutable.close();
    throw e;
  }
  return immutable;
}

function open(name: string, options: Record<string, unknown>): Database.Database {
  try {
    return new Database(name, options);
  } catch (e) {
    throw toLibsqlError(e);
  }
}

/** Reads page 1: "not a database", a wrong key, an unreadable WAL index show here. */
function firstRead(db: Database.Database): void {
  try {
    db.prepare("PRAGMA schema_version").raw(true).get();
  } catch (e) {
    throw toLibsqlError(e);
  }
}

function walHasContent(path: string): boolean {
  const wal = `${path}-wal`;
  return existsSync(wal) && statSync(wal).size > 0;
}

/**
 * The connection's settings. A writable file: WAL (+ synchronous=NORMAL),
 * foreign keys, the busy timeout. Read-only: nothing that writes (no
 * journal-mode change). An embedded replica: libsql owns the file's mode and
 * refuses busy_timeout; foreign keys are enforced by the primary anyway.
 */
export function setUp(db: Database.Database, o: ResolvedOptions, reopen: boolean): void {
  if (o.sync !== undefined) {
    db.exec("PRAGMA foreign_keys = ON");
    return;
  }
  // Setup may need the write lock (switching to WAL), once, at open: wait for
  // it natively up to the whole retry budget. A replacement connection skips
  // that: the file is already in WAL mode, and it is opened while another
  // process holds the lock.
  const writesSetup = !o.memory && !o.readOnly && !reopen;
  const setupWait = writesSetup
    ? Math.max(o.busyTimeoutMs, o.retry ? Math.ceil(o.retry.maxWaitMs) : 0)
    : o.busyTimeoutMs;
  db.exec(`PRAGMA busy_timeout = ${setupWait}`);
  if (reopen && !o.memory && !o.readOnly) {
    db.exec("PRAGMA synchronous = NORMAL");
  } else if (writesSetup) {
    const row = db.prepare("PRAGMA journal_mode = WAL").raw(true).get([]) as unknown[] | undefined;
    // WAL can be refused (e.g. some network file systems); then keep the
    // file's mode and its default (FULL) synchronous setting.
    if (String(row?.[0]).toLowerCase() === "wal") db.exec("PRAGMA synchronous = NORMAL");
  }
  db.exec("PRAGMA foreign_keys = ON");
  db.exec(`PRAGMA busy_timeout = ${o.busyTimeoutMs}`);
}
