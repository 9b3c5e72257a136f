/**
 * `rf-db status` never writes. It used to open the database for writing: a
 * file in rollback-journal mode (made by another tool) was switched to WAL,
 * a database behind the package was migrated, and in a directory the user
 * cannot write (another user's database, a read-only mount) it failed. Now
 * it opens local files read-only:
 *
 * - the file's bytes are unchanged, for `status`, `status -e ID` and
 *   `status --watch`, on a WAL file and a journal-mode one (beside a WAL file
 *   SQLite's reader protocol leaves an empty -wal and the -shm index);
 * - a database behind the package is reported (`rf-db migrate`), not migrated;
 * - in a directory it cannot write (run as `nobody` when the tests run as
 *   root, who ignores permissions) it shows the experiment.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { afterAll, describe, expect, it } from "vitest";
import { MIGRATIONS } from "../src/index";
import { MAIN, ROOT, runCli } from "./support/cli";

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "rf-db-status-ro-"));
  roots.push(dir);
  return dir;
}
const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/**
 * A database made with plain `exec` on a raw connection (no prepared statement outlives `close()`,
 * so nothing of this process keeps holding the file or its WAL): the given migrations applied and
 * recorded as the migrator records them, in WAL or rollback-journal mode.
 */
function rawDatabase(path: string, migrations = MIGRATIONS, journal: "wal" | "delete" = "wal"): void {
  const raw = new Database(path);
  if (journal === "wal") raw.exec("PRAGMA journal_mode = WAL");
  raw.exec("CREATE TABLE __drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)");
  for (const m of migrations) {
    for (const statement of m.statements) raw.exec(statement);
    raw.exec(`INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('${m.hash}', ${m.when})`);
  }
  raw.close();
}

/** A current database with one running and one completed experiment, in `dir`/rapidfire.db. */
function populated(dir: string, journal: "wal" | "delete" = "wal"): { path: string; running: number } {
  const path = join(dir, "rapidfire.db");
  rawDatabase(path, MIGRATIONS, journal);
  const raw = new Database(path);
  raw.exec(
    "INSERT INTO experiments (experiment_name, num_actors, num_shards) VALUES ('ro-running', 2, 4);" +
      "INSERT INTO experiments (experiment_name, num_actors, num_shards, status) VALUES ('ro-done', 1, 1, 'completed');",
  );
  raw.close();
  return { path, running: 1 };
}

describe("rf-db status never writes", () => {
  it.each(["wal", "delete"] as const)("%s journal: bytes unchanged for status, -e and --watch", async (mode) => {
    const dir = tempDir();
    const { path, running } = populated(dir, mode);
    const before = sha(path);
    const files = readdirSync(dir).sort();
    const runs = [
      await runCli(["status"], dir),
      await runCli(["status", "-e", String(running)], dir),
      await runCli(["status", "--watch", "-e", "2"], dir), // a finished experiment: one view, then exit
    ];
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Experiment \d+ "ro-/);
    }
    expect(sha(path)).toBe(before);
    // A reader of a WAL database needs the -shm index (SQLite's WAL protocol): when it was the only
    // one to open the file, SQLite leaves an empty -wal and the -shm beside it (the next writer removes
    // them). A rollback-journal database gets nothing beside it.
    const left = readdirSync(dir).filter((f) => !files.includes(f));
    if (mode === "wal") {
      expect(left.sort()).toEqual(["rapidfire.db-shm", "rapidfire.db-wal"]);
      expect(statSync(`${path}-wal`).size).toBe(0);
    } else expect(left).toEqual([]);
  });

  it("a database behind the package is reported, not migrated", async () => {
    const dir = tempDir();
    const path = join(dir, "rapidfire.db");
    rawDatabase(path, MIGRATIONS.slice(0, 1)); // the first migration only
    const before = sha(path);
    const r = await runCli(["status"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^rf-db: .*behind.*rf-db migrate/);
    expect(sha(path)).toBe(before);
  });

  it("works on a database in a directory it cannot write", async () => {
    const dir = tempDir();
    const { path } = populated(dir);
    const before = sha(path);
    chmodSync(dir, 0o755);
    chmodSync(path, 0o644);
    const asRoot = process.getuid?.() === 0;
    if (!asRoot) chmodSync(dir, 0o555);
    try {
      const r = spawnSync(process.execPath, ["--import", "tsx", MAIN, "status"], {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 60_000,
        env: { PATH: process.env.PATH, HOME: tmpdir(), RF_DB_PATH: dir },
        ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Experiment \d+ "ro-running": running/);
    } finally {
      chmodSync(dir, 0o700);
    }
    expect(sha(path)).toBe(before);
    expect(readdirSync(dir)).toEqual(["rapidfire.db"]);
  });
});
