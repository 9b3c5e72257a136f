/**
 * What the package does to a local database file around opening it, beyond
 * what the client itself does: files it creates are private (the database
 * may hold API keys in configs), and a damaged file is refused at open
 * instead of accepting writes.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { Client } from "@libsql/client";
import { StorageError } from "../../errors";

/**
 * Creates the directory (0700, with its missing parents) and an empty
 * database file (0600) unless they exist. SQLite gives `-wal`/`-shm` the
 * database file's mode, so they are private too; an empty file is a valid
 * empty database. Throws the file system's error (mapped by the caller).
 */
export function createPrivately(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, "wx", 0o600));
  } catch (e) {
    if ((e as { code?: unknown }).code !== "EEXIST") throw e;
  }
}

/**
 * An embedded replica's files: libsql refuses a database file it did not
 * create itself ("a database without a wal_index"), so the directory is made
 * private beforehand and the files libsql created are made private right
 * after the open — before the first sync brings any data. Returns whether
 * the replica is new (its files are then to be passed to {@link makePrivate}).
 */
export function prepareReplica(path: string): boolean {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  return !existsSync(path);
}

const REPLICA_FILES = ["", "-wal", "-shm", "-info", "-client_wal_index"];

/** chmod 0600 the replica's files that exist (see {@link prepareReplica}). */
export function makePrivate(path: string): void {
  for (const suffix of REPLICA_FILES) if (existsSync(path + suffix)) chmodSync(path + suffix, 0o600);
}

/**
 * Files up to this size get `PRAGMA quick_check` at open: ~5.5 ms per MB
 * measured (RELIABILITY.md, "Corrupt files"), so at most ~180 ms; larger
 * files are left to `db.check()`.
 */
export const QUICK_CHECK_MAX_BYTES = 32 * 1024 * 1024;

/** `PRAGMA quick_check` for a file not larger than QUICK_CHECK_MAX_BYTES; StorageError ("corrupt") naming the first problems. */
export async function quickCheck(client: Client, path: string): Promise<void> {
  let size = 0;
  try {
    size = statSync(path).size;
  } catch {
    return; // gone or unreadable: the open itself reports that
  }
  if (size > QUICK_CHECK_MAX_BYTES) return;
  const rs = await client.execute("PRAGMA quick_check(5)");
  const problems = rs.rows.map((r) => String(r[0]));
  if (problems.length === 1 && problems[0] === "ok") return;
  throw new StorageError(
    `${path}: the database file is corrupt (PRAGMA quick_check: ${problems.join("; ")}); it was not opened. ` +
      "Restore it from a backup, or recover what is readable with the sqlite3 shell's .recover",
    "corrupt",
    path,
  );
}
