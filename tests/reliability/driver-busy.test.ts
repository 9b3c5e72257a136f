/**
 * Pins a hazard of the `libsql` driver (0.5.x) that any local client built on
 * it must work around, found by multi-writer.test.ts / busy.test.ts:
 *
 *   A prepared statement (`run`, `get`, `all`, `iterate`; with or without
 *   RETURNING) that fails with SQLITE_BUSY is not reset. It keeps the
 *   implicit transaction it opened, so every later write on that connection
 *   "succeeds" (and is visible to that connection only) but is never
 *   committed: closing the connection drops it, and an explicit COMMIT fails
 *   with "cannot commit transaction - SQL statements in progress".
 *   `inTransaction` stays false, so nothing shows it.
 *
 * What clears it (verified below): running the *same statement object* again
 * (a retry), or closing and reopening the connection. `exec()` is not affected.
 * The package-level consequence is tested in busy.test.ts (c) and
 * multi-writer.test.ts ("ackedButLost").
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "libsql";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupAll, report, tempDir } from "./support";

afterAll(cleanupAll);

function freshFile(): string {
  const path = join(tempDir(), "driver.db");
  for (const suffix of ["", "-wal", "-shm", "-journal"]) if (existsSync(path + suffix)) rmSync(path + suffix);
  const d = new Database(path);
  d.exec("PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)");
  d.close();
  return path;
}

function rowsIn(path: string): number {
  const d = new Database(path);
  try {
    return Number((d.prepare("SELECT count(*) AS n FROM t").get() as { n: number }).n);
  } finally {
    d.close();
  }
}

type Recovery = "none" | "retry-same-statement" | "reopen";

/** x's statement fails with SQLITE_BUSY while y holds the write lock; then x writes one acknowledged row. */
function trial(how: "all" | "run" | "get" | "exec", recovery: Recovery): { busy: boolean; persisted: boolean } {
  const path = freshFile();
  let x = new Database(path, { timeout: 0 });
  const y = new Database(path, { timeout: 0 });
  const text = "INSERT INTO t (v) VALUES ('refused') RETURNING id";
  const stmt = x.prepare(text);
  y.exec("BEGIN IMMEDIATE");
  let busy = false;
  try {
    if (how === "all") stmt.all();
    else if (how === "run") stmt.run();
    else if (how === "get") stmt.get();
    else x.exec(text);
  } catch (err) {
    busy = /SQLITE_BUSY|locked/i.test(`${(err as { code?: string }).code} ${(err as Error).message}`);
  }
  y.exec("ROLLBACK");
  let expected = 1;
  if (recovery === "retry-same-statement") {
    stmt.all(); // the retry succeeds and resets the statement
    expected = 2;
  } else if (recovery === "reopen") {
    x.close();
    x = new Database(path, { timeout: 0 });
  }
  x.prepare("INSERT INTO t (v) VALUES ('acknowledged') RETURNING id").all();
  x.close();
  y.close();
  return { busy, persisted: rowsIn(path) === expected };
}

describe("libsql driver: a statement that failed with SQLITE_BUSY", () => {
  it("silently swallows every later write on its connection (all/run/get), but not after exec()", () => {
    const results = Object.fromEntries(
      (["all", "run", "get", "exec"] as const).map((how) => [how, trial(how, "none")]),
    );
    report("driver-busy", { recovery: "none", results });
    for (const how of ["all", "run", "get", "exec"] as const) expect(results[how]!.busy).toBe(true);
    expect(results.all!.persisted).toBe(false);
    expect(results.run!.persisted).toBe(false);
    expect(results.get!.persisted).toBe(false);
    expect(results.exec!.persisted).toBe(true);
  });

  it("is cleared by retrying the same statement object, or by reopening the connection", () => {
    const retry = trial("all", "retry-same-statement");
    const reopen = trial("all", "reopen");
    report("driver-busy", { recovery: "retry/reopen", retry, reopen });
    expect(retry).toEqual({ busy: true, persisted: true });
    expect(reopen).toEqual({ busy: true, persisted: true });
  });
});
