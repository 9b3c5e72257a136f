/**
 * Moving the Python module's database out of the way (Node only), so that a
 * new database can take its path: `rapidfire.db` → `rapidfire.python-<UTC
 * date-time>.db`, byte for byte (a rename, never a copy), with its `-wal`
 * (which may hold committed rows) and `-shm` renamed alongside so the WAL
 * stays with its database. `moveBack` undoes it when the import then fails.
 */
import { existsSync, renameSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";

const SIDES = ["-wal", "-shm"] as const;

/** The name the file is kept under: unused, in the same directory. */
export function asideName(path: string, now = new Date()): string {
  const ext = extname(path) || ".db";
  const stem = basename(path, extname(path));
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  for (let n = 1; ; n++) {
    const candidate = join(dirname(path), `${stem}.python-${stamp}${n === 1 ? "" : `-${n}`}${ext}`);
    if (!existsSync(candidate) && SIDES.every((s) => !existsSync(candidate + s))) return candidate;
  }
}

/**
 * Renames `path` (and its side files) aside; returns the new path.
 * @example const kept = moveAside("/home/me/db/rapidfire.db"); // "/home/me/db/rapidfire.python-20261130-141500.db"
 */
export function moveAside(path: string, now = new Date()): string {
  const to = asideName(path, now);
  renameSync(path, to);
  const moved: string[] = [];
  try {
    for (const side of SIDES) {
      if (existsSync(path + side)) {
        renameSync(path + side, to + side);
        moved.push(side);
      }
    }
  } catch (err) {
    for (const side of moved) renameSync(to + side, path + side);
    renameSync(to, path);
    throw err;
  }
  return to;
}

/** Puts a file moved by `moveAside` back (the new database at `path` must be gone first). */
export function moveBack(aside: string, path: string): void {
  for (const side of SIDES) if (existsSync(aside + side)) renameSync(aside + side, path + side);
  renameSync(aside, path);
}
