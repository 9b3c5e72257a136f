/**
 * Pins a defect of the `libsql` driver (0.5.x) that the local client steers
 * around (RELIABILITY.md, F8):
 *
 *   An INSERT/UPDATE … RETURNING run through `Statement.get()` or `run()` in
 *   autocommit mode drops the error of the COMMIT that follows it (a
 *   deferred foreign key, SQLITE_FULL on a full disk …): get() returns the
 *   row, run() reports success, and nothing is stored. After run() the
 *   statement even stays active, so later writes on the connection are
 *   never committed either (as after F1's SQLITE_BUSY). `all()` and
 *   `iterate()` report the error; a write without RETURNING through `run()`
 *   reports it too.
 *
 * The disk-full consequence for the package is tested in disk-full.test.ts.
 * When this test fails, libsql changed: re-check the workaround in
 * src/driver/local/sql-scan.ts (writes are never fetched with get()).
 */
import { join } from "node:path";
import Database from "libsql";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupAll, tempDir } from "./support";

afterAll(cleanupAll);

type How = "get" | "run" | "all" | "iterate";

/** What another connection sees: the truth about what was committed. */
function count(path: string, where: string): number {
  const d = new Database(path);
  try {
    return Number((d.prepare(`SELECT count(*) AS n FROM c WHERE ${where}`).get() as { n: number }).n);
  } finally {
    d.close();
  }
}

function trial(how: How, sql: string): { threw: string | undefined; stored: number; laterWriteStored: boolean } {
  const path = join(tempDir(), "commit.db");
  const db = new Database(path);
  db.exec(
    "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; CREATE TABLE p (id INTEGER PRIMARY KEY);" +
      "CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED);" +
      "INSERT INTO p VALUES (1); INSERT INTO c VALUES (1, 1)",
  );
  const stmt = db.prepare(sql);
  let threw: string | undefined;
  try {
    if (how === "iterate") [...stmt.iterate()];
    else stmt[how]();
  } catch (err) {
    threw = (err as { code?: string }).code;
  }
  const stored = count(path, "p = 42");
  // A valid write on the same connection afterwards: is it committed?
  db.prepare("INSERT INTO c (p) VALUES (1)").run();
  const laterWriteStored = count(path, "p = 1") === 2;
  db.close();
  return { threw, stored, laterWriteStored };
}

describe("libsql driver: the COMMIT error of an autocommit write with RETURNING", () => {
  const insert = "INSERT INTO c (p) VALUES (42) RETURNING id";
  const update = "UPDATE c SET p = 42 WHERE id = 1 RETURNING id";

  it("is dropped by get() and run(), reported by all() and iterate()", () => {
    const results = Object.fromEntries(
      (["get", "run", "all", "iterate"] as const).flatMap((how) => [
        [`insert ${how}`, trial(how, insert)],
        [`update ${how}`, trial(how, update)],
      ]),
    );
    console.log(`[reliability] ${JSON.stringify({ scenario: "driver-commit", results })}`);
    for (const how of ["get", "run"] as const) {
      for (const kind of ["insert", "update"]) {
        const r = results[`${kind} ${how}`]!;
        expect(r.threw, `${kind} ${how}`).toBeUndefined(); // acknowledged …
        expect(r.stored, `${kind} ${how}`).toBe(0); // … but not stored
      }
    }
    // run() leaves the statement active: the next write on the connection is not committed.
    expect(results["insert run"]!.laterWriteStored).toBe(false);
    expect(results["update run"]!.laterWriteStored).toBe(false);
    for (const how of ["all", "iterate"] as const) {
      for (const kind of ["insert", "update"]) {
        const r = results[`${kind} ${how}`]!;
        expect(r.threw, `${kind} ${how}`).toBe("SQLITE_CONSTRAINT_FOREIGNKEY");
        expect(r.stored).toBe(0);
        expect(r.laterWriteStored, `${kind} ${how}`).toBe(true);
      }
    }
  });

  it("is reported by run() for a write without RETURNING", () => {
    const r = trial("run", "INSERT INTO c (p) VALUES (42)");
    expect(r).toEqual({ threw: "SQLITE_CONSTRAINT_FOREIGNKEY", stored: 0, laterWriteStored: true });
  });
});
