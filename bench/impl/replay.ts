/**
 * The raw contenders: the package's own SQL (a plan captured by
 * bench/lib/plan.ts) replayed without the package —
 *
 * - raw `libsql`, the native binding under the package's local driver, every
 *   statement prepared once, synchronous calls, array rows, a batch as
 *   BEGIN IMMEDIATE … COMMIT: the engine's floor;
 * - raw `@libsql/client`, one `execute` per statement the package sent in one
 *   call, a `batch(…, "write")` where it sent a batch: the driver's floor
 *   (remotely: one HTTP request per client call, as the package today).
 *
 * Both check what the package checks on the happy path (a write changed a
 * row), so a replay that silently did nothing cannot look fast.
 */
import type { Client, InArgs } from "@libsql/client";
import type Database from "libsql";
import { bindArgs, type Plan, type PlanEntry, type PlanKey } from "../lib/plan";
import { SAMPLES_PER_SHARD, type ActorLoop, type Target } from "../lib/workload";

type Inputs = Record<string, unknown>;
type CallFn = (key: PlanKey, inputs: Inputs) => Promise<unknown>;

const changed = (key: string, sql: string, n: number | bigint) => {
  if (Number(n) < 1) throw new Error(`${key}: no row changed by ${sql.slice(0, 60)}`);
};

function resultOf(entry: PlanEntry, value: unknown): unknown {
  if (entry.returns === "id") return Array.isArray(value) ? (value[0] as unknown[])[0] : value;
  return value;
}

/** The replay on raw libsql (`new Database(path)` with the package's connection settings). */
export function libsqlCaller(db: Database.Database, plan: Plan): CallFn {
  const cache = new Map<string, Database.Statement>();
  const prep = (sql: string, reader: boolean) => {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      if (reader) s.raw(true);
      cache.set(sql, s);
    }
    return s;
  };
  // Prepare everything up front (the package prepares on first use; either way it is outside the per-call cost).
  for (const e of Object.values(plan.calls))
    for (const c of e.clientCalls) for (const s of c.statements) prep(s.sql, s.reader);
  const begin = db.prepare("BEGIN IMMEDIATE");
  const commit = db.prepare("COMMIT");
  const rollback = db.prepare("ROLLBACK");
  return async (key, inputs) => {
    const entry = plan.calls[key]!;
    let result: unknown;
    for (const cc of entry.clientCalls) {
      if (cc.batch) begin.run([]);
      try {
        for (const s of cc.statements) {
          const st = prep(s.sql, s.reader);
          const args = bindArgs(s.args, inputs);
          if (s.reader) {
            const rows = s.one ? [st.get(args)].filter((r) => r !== undefined) : st.all(args);
            if (s.result) result = rows;
          } else {
            const r = st.run(args);
            if (!s.mayChangeNothing) changed(key, s.sql, r.changes);
            if (s.result) result = Number(r.lastInsertRowid);
          }
        }
        if (cc.batch) commit.run([]);
      } catch (e) {
        if (cc.batch && db.inTransaction) rollback.run([]);
        throw e;
      }
    }
    return resultOf(entry, result);
  };
}

/** The replay on `@libsql/client` (file: or a server URL). */
export function clientCaller(c: Client, plan: Plan): CallFn {
  return async (key, inputs) => {
    const entry = plan.calls[key]!;
    let result: unknown;
    for (const cc of entry.clientCalls) {
      const stmts = cc.statements.map((s) => ({ sql: s.sql, args: bindArgs(s.args, inputs) as InArgs }));
      const rss = cc.batch ? await c.batch(stmts, "write") : [await c.execute(stmts[0]!)];
      cc.statements.forEach((s, i) => {
        const rs = rss[i]!;
        if (!s.reader && !s.mayChangeNothing) changed(key, s.sql, rs.rowsAffected);
        if (s.result) result = s.reader ? rs.rows.map((r) => Array.from(r)) : Number(rs.lastInsertRowid);
      });
    }
    return resultOf(entry, result);
  };
}

/** The workload's Target (and the actor loop's calls) over a replay. */
export function replayTarget(
  name: string,
  plan: Plan,
  call: CallFn,
  close: () => Promise<void> | void,
): Target & ActorLoop {
  // Where the claimed row's id and shard are (the claim returns the whole row).
  const claim = plan.calls.claimNext!.clientCalls.flatMap((c) => c.statements).find((s) => s.result);
  const col = (name: string) => {
    const i = claim?.columns?.indexOf(name) ?? -1;
    if (i < 0) throw new Error(`plan: claimNext does not return ${name}`);
    return i;
  };
  const claimCols = { taskId: col("task_id"), shardId: col("shard_id") };
  return {
    name,
    createExperiment: async (n, a, s) =>
      (await call("createExperiment", { name: n, numActors: a, numShards: s })) as number,
    createPipeline: async (eid, n, status) =>
      (await call(status === "new" ? "createPipeline:new" : "createPipeline:ongoing", { eid, name: n })) as number,
    setPipelineStatus: async (pid, s) => void (await call(`setPipelineStatus:${s}`, { pid })),
    setExperimentStatus: async (eid, s) => void (await call(`setExperimentStatus:${s}`, { eid })),
    listPipelines: async (eid) => (await call("listPipelines", { eid })) as unknown[],
    getPipeline: async (pid) => ((await call("getPipeline", { pid })) as unknown[])[0] ?? null,
    createTask: async (eid, pid, actor, shard) => (await call("createTask", { eid, pid, actor, shard })) as number,
    setTaskStatus: async (tid, s) => void (await call(`setTaskStatus:${s}`, { tid })),
    setTaskStartTime: async (tid, t) => void (await call("setTaskStartTime", { tid, t: t.getTime() })),
    listRunning: async (eid) => (await call("listRunning", { eid })) as unknown[],
    setPipelineProgress: async (pid, cur, done, samples) =>
      void (await call("setPipelineProgress", { pid, cur, done, samples })),
    setTaskEndTime: async (tid, t, dur) => void (await call("setTaskEndTime", { tid, t: t.getTime(), dur })),
    createRunningTask: async (eid, pid, actor, shard, t) =>
      (await call("createRunningTask", { eid, pid, actor, shard, t: t.getTime() })) as number,
    completeWithProgress: (tid, samples, cur, t) => call("completeWithProgress", { tid, samples, cur, t: t.getTime() }),
    claimNext: async (eid, actor) => {
      const rows = (await call("claimNext", { eid, actor, t: Date.now() })) as unknown[][];
      const row = rows[0];
      return row ? { taskId: Number(row[claimCols.taskId]), shardId: Number(row[claimCols.shardId]) } : null;
    },
    completeClaimed: (tid, shard) =>
      call("completeWithProgress", { tid, samples: SAMPLES_PER_SHARD, cur: shard, t: Date.now() }),
    close: async () => void (await close()),
  };
}
