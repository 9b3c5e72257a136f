/**
 * Raw `libsql` (the native binding the package's local client sits on) with
 * cached prepared statements, synchronous calls and raw (array) rows: the
 * engine's floor. Each call is still wrapped in an async function so the
 * workload driver awaits it like the others (one microtask, ~0.1 µs).
 */
import Database from "libsql";
import type { Target } from "../lib/workload";
import { expectOne, MODEL_CONFIG, SAMPLING_PARAMS, SQL } from "./sql";

export function rawLibsqlTarget(
  path: string,
  name = "raw libsql (cached statements)",
  /** Extra statements run first: experiments (e.g. PRAGMA wal_autocheckpoint), or the schema for ":memory:". */
  setup: string[] = [],
): Target {
  const db = new Database(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA busy_timeout = 100");
  for (const s of setup) db.exec(s);
  const prep = <K extends keyof typeof SQL>(k: K) => db.prepare(SQL[k]);
  const s = Object.fromEntries(Object.keys(SQL).map((k) => [k, prep(k as keyof typeof SQL)])) as Record<
    keyof typeof SQL,
    Database.Statement
  >;
  for (const k of ["listPipelines", "getPipeline", "listRunning", "advanceTaskPipeline"] as const) s[k].raw(true);
  const begin = db.prepare("BEGIN IMMEDIATE");
  const commit = db.prepare("COMMIT");
  const rollback = db.prepare("ROLLBACK");
  const run = (st: Database.Statement, args: unknown[], what: string) => expectOne(st.run(args).changes, what);
  const insert = (st: Database.Statement, args: unknown[]) => Number(st.run(args).lastInsertRowid);
  return {
    name,
    createExperiment: async (n, a, sh) => insert(s.createExperiment, [n, a, sh]),
    createPipeline: async (eid, n, status) =>
      insert(s.createPipeline, [eid, n, "vllm", MODEL_CONFIG, SAMPLING_PARAMS, status]),
    setPipelineStatus: async (pid, st) => run(s.setPipelineStatus, [st, pid], "pipeline"),
    setExperimentStatus: async (eid, st) => run(s.setExperimentStatus, [st, eid], "experiment"),
    listPipelines: async (eid) => s.listPipelines.all([eid]),
    getPipeline: async (pid) => s.getPipeline.get([pid]) ?? null,
    createTask: async (eid, pid, a, sh) => insert(s.createTask, [eid, pid, a, sh]),
    setTaskStatus: async (id, st) => run(s.setTaskStatus, [st, id], "task"),
    setTaskStartTime: async (id, t) => run(s.setTaskStartTime, [t.getTime(), id], "task"),
    listRunning: async (eid) => s.listRunning.all([eid]),
    setPipelineProgress: async (pid, cur, done, samples) =>
      run(s.setPipelineProgress, [cur, done, samples, pid], "pipeline"),
    setTaskEndTime: async (id, t, d) => run(s.setTaskEndTime, [t.getTime(), d, id], "task"),
    createRunningTask: async (eid, pid, a, sh, t) => insert(s.createRunningTask, [eid, pid, a, sh, t.getTime()]),
    completeWithProgress: async (id, samples, shard, t) => {
      const ms = t.getTime();
      begin.run([]);
      try {
        const progress = s.advanceTaskPipeline.all([samples, shard, id]);
        run(s.completeTask, [ms, ms, id], "task");
        commit.run([]);
        return progress[0];
      } catch (e) {
        if (db.inTransaction) rollback.run([]);
        throw e;
      }
    },
    close: async () => {
      db.close();
    },
  };
}
