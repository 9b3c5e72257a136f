/**
 * Raw `@libsql/client` with the hand-written SQL of ./sql.ts, one call per
 * step: the driver's floor. On a file its sqlite3 client prepares every
 * statement again on every call; on sqld every call is one HTTP request.
 */
import { createClient, type Client } from "@libsql/client";
import type { Target } from "../lib/workload";
import { expectOne, MODEL_CONFIG, SAMPLING_PARAMS, SQL } from "./sql";

export async function rawClientTarget(url: string, name = "raw @libsql/client"): Promise<Target> {
  const c: Client = createClient({ url, intMode: "number" });
  if (url.startsWith("file:")) {
    // The same connection settings the package uses on a file (WAL is persistent and already set by the migration).
    await c.execute("PRAGMA synchronous = NORMAL");
    await c.execute("PRAGMA foreign_keys = ON");
    await c.execute("PRAGMA busy_timeout = 100");
  }
  const run = async (sql: string, args: (string | number | null)[], what: string) => {
    const rs = await c.execute({ sql, args });
    expectOne(rs.rowsAffected, what);
    return rs;
  };
  const insert = async (sql: string, args: (string | number | null)[]) =>
    Number((await c.execute({ sql, args })).lastInsertRowid);
  return {
    name,
    createExperiment: (n, a, s) => insert(SQL.createExperiment, [n, a, s]),
    createPipeline: (eid, n, status) =>
      insert(SQL.createPipeline, [eid, n, "vllm", MODEL_CONFIG, SAMPLING_PARAMS, status]),
    setPipelineStatus: async (pid, s) => void (await run(SQL.setPipelineStatus, [s, pid], "pipeline")),
    setExperimentStatus: async (eid, s) => void (await run(SQL.setExperimentStatus, [s, eid], "experiment")),
    listPipelines: async (eid) => (await c.execute({ sql: SQL.listPipelines, args: [eid] })).rows,
    getPipeline: async (pid) => (await c.execute({ sql: SQL.getPipeline, args: [pid] })).rows[0] ?? null,
    createTask: (eid, pid, a, s) => insert(SQL.createTask, [eid, pid, a, s]),
    setTaskStatus: async (id, s) => void (await run(SQL.setTaskStatus, [s, id], "task")),
    setTaskStartTime: async (id, t) => void (await run(SQL.setTaskStartTime, [t.getTime(), id], "task")),
    listRunning: async (eid) => (await c.execute({ sql: SQL.listRunning, args: [eid] })).rows,
    setPipelineProgress: async (pid, cur, done, samples) =>
      void (await run(SQL.setPipelineProgress, [cur, done, samples, pid], "pipeline")),
    setTaskEndTime: async (id, t, d) => void (await run(SQL.setTaskEndTime, [t.getTime(), d, id], "task")),
    createRunningTask: (eid, pid, a, s, t) => insert(SQL.createRunningTask, [eid, pid, a, s, t.getTime()]),
    completeWithProgress: async (id, samples, shard, t) => {
      const ms = t.getTime();
      const [progress, done] = await c.batch(
        [
          { sql: SQL.advanceTaskPipeline, args: [samples, shard, id] },
          { sql: SQL.completeTask, args: [ms, ms, id] },
        ],
        "write",
      );
      expectOne(done!.rowsAffected, "task");
      return progress!.rows[0];
    },
    close: async () => c.close(),
  };
}
