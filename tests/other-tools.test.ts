/**
 * Rows written by other SQLite tools: Python's sqlite3 (3.40 here: older than
 * 3.42, which `unixepoch('subsec')` needs) inserts into a database this
 * package made, naming only the required columns, and the package reads
 * every row back with its defaults — times from the database clock, statuses,
 * counters. Skipped, with the reason printed, where python3 is missing.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RFDatabase } from "../src/index";

const probe = spawnSync("python3", ["-c", "import sqlite3; print(sqlite3.sqlite_version)"], { encoding: "utf8" });
const pythonSqlite = probe.status === 0 ? probe.stdout.trim() : undefined;
if (!pythonSqlite) console.log("other-tools test skipped: python3 (with sqlite3) is not available");
else console.log(`Python's sqlite3 is SQLite ${pythonSqlite}`);

const PY = `
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
con.execute("PRAGMA foreign_keys = ON")
cur = con.cursor()
cur.execute("INSERT INTO experiments (experiment_name, num_actors) VALUES ('from-python', 2)")
e = cur.lastrowid
cur.execute("INSERT INTO contexts (context_hash) VALUES ('py-hash')")
cur.execute("INSERT INTO pipelines (experiment_id, pipeline_type) VALUES (?, 'vllm')", (e,))
p = cur.lastrowid
cur.execute("INSERT INTO actor_tasks (experiment_id, pipeline_id, actor_id, shard_id) VALUES (?, ?, 0, 0)", (e, p))
cur.execute("INSERT INTO interactive_control (operation, pipeline_id) VALUES ('stop', ?)", (p,))
con.commit()
con.close()
`;

const dir = mkdtempSync(join(tmpdir(), "rf-other-tools-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!pythonSqlite)("rows inserted by Python's sqlite3 with only the required columns", () => {
  it("read back through the package with correct defaults", async () => {
    const path = join(dir, "shared.db");
    const made = await RFDatabase.open({ url: `file:${path}` });
    await made.close();
    const before = Date.now();
    const run = spawnSync("python3", ["-c", PY, path], { encoding: "utf8" });
    const after = Date.now();
    expect(run.status, run.stderr).toBe(0);

    const db = await RFDatabase.open({ url: `file:${path}` });
    try {
      const near = (d: Date | null | undefined) => {
        expect(d).toBeInstanceOf(Date);
        // The database clock, at millisecond resolution (generous bounds: another clock read, same host).
        expect(d!.getTime()).toBeGreaterThanOrEqual(before - 1000);
        expect(d!.getTime()).toBeLessThanOrEqual(after + 1000);
      };
      const e = await db.experiments.getByName("from-python");
      expect(e).toMatchObject({ status: "running", numShards: 0, numActors: 2, experimentMode: "evals", error: null });
      near(e!.createdAt);
      near(e!.updatedAt);
      const c = await db.contexts.getByHash("py-hash");
      expect(c).toMatchObject({ status: "pending", startedAt: null, completedAt: null });
      near(c!.createdAt);
      const [p] = await db.pipelines.list(e!.experimentId);
      expect(p).toMatchObject({ status: "new", currentShardId: 0, shardsCompleted: 0, totalSamplesProcessed: 0 });
      near(p!.createdAt);
      near(p!.updatedAt);
      const task = (await db.actorTasks.listRunning(e!.experimentId)).length;
      expect(task).toBe(0);
      const t = await db.actorTasks.get(1);
      expect(t).toMatchObject({ status: "scheduled", attempts: 0, maxAttempts: 3, leaseOwner: null, startedAt: null });
      near(t!.createdAt);
      const [ic] = await db.icOperations.listPending();
      expect(ic).toMatchObject({ operation: "stop", status: "pending", attempts: 0, processedAt: null });
      near(ic!.createdAt);
      // And the package can carry on with them.
      await db.actorTasks.start(t!.taskId);
      expect((await db.actorTasks.get(t!.taskId))!.status).toBe("in_progress");
    } finally {
      await db.close();
    }
  });
});
