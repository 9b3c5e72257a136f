/**
 * The package's own SQL, captured as a replay plan, so that the raw
 * contenders (raw `libsql` with cached statements, raw `@libsql/client`,
 * CPython's `sqlite3`) run **the same statements** the package sends —
 * the comparison then measures the package's own cost per call, nothing
 * else — and keep doing so when the repositories' SQL changes.
 *
 * How: every call the workloads make is made once through the package on a
 * scratch database with distinctive inputs (ids pushed past 100,000 so no id
 * equals a small constant such as `LIMIT 1`), the statements it sends are
 * captured at the client (bench/lib/capture.ts), and each bound argument is
 * traced back to the input it came from (or kept as a constant). A value that
 * matches two inputs is an error, not a guess.
 */
import type { Client } from "@libsql/client";
import type { RFDatabase } from "../../src/index";
import { captureStatements } from "./capture";
import { MODEL_CONFIG_OBJ, SAMPLING_PARAMS_OBJ } from "./workload";

/** Where one bound argument comes from: an input of the call, the clock, or a constant. */
export type ArgSpec = { in: string; enc?: "now" } | { c: string | number | null };

export interface PlanStatement {
  sql: string;
  args: ArgSpec[];
  /** Returns rows (SELECT, or a write with RETURNING). */
  reader: boolean;
  /** A reader bound to `LIMIT 1`: read with `get()` (as the package's driver does). */
  one: boolean;
  /** A reader's column names, in order (its rows are arrays). */
  columns?: string[];
  /** This statement's outcome is the call's result (the insert's rowid, or the rows). */
  result?: boolean;
  /** A write that changed no row when the package made the call (e.g. claimNext failing no exhausted lease). */
  mayChangeNothing?: boolean;
}

/** One client call the package made: an `execute`, or a `batch` (one transaction). */
export interface PlanClientCall {
  batch: boolean;
  statements: PlanStatement[];
}

export interface PlanEntry {
  clientCalls: PlanClientCall[];
  returns: "id" | "rows" | "none";
}

export interface Plan {
  /** Call key (e.g. "createPipeline:new", "completeWithProgress") → what the package sent. */
  calls: Record<string, PlanEntry>;
}

/** Inputs every plan key takes (the names the replays bind by). */
export const PLAN_INPUTS = {
  createExperiment: ["name", "numActors", "numShards"],
  "createPipeline:new": ["eid", "name"],
  "createPipeline:ongoing": ["eid", "name"],
  "setPipelineStatus:ongoing": ["pid"],
  "setPipelineStatus:completed": ["pid"],
  "setExperimentStatus:completed": ["eid"],
  listPipelines: ["eid"],
  getPipeline: ["pid"],
  createTask: ["eid", "pid", "actor", "shard"],
  "setTaskStatus:in_progress": ["tid"],
  "setTaskStatus:completed": ["tid"],
  setTaskStartTime: ["tid", "t"],
  listRunning: ["eid"],
  setPipelineProgress: ["pid", "cur", "done", "samples"],
  setTaskEndTime: ["tid", "t", "dur"],
  createRunningTask: ["eid", "pid", "actor", "shard", "t"],
  completeWithProgress: ["tid", "samples", "cur", "t"],
  claimNext: ["eid", "actor", "t"],
  countByStatus: ["eid"],
} as const;
export type PlanKey = keyof typeof PLAN_INPUTS;

const RETURNS: Record<PlanKey, PlanEntry["returns"]> = {
  createExperiment: "id",
  "createPipeline:new": "id",
  "createPipeline:ongoing": "id",
  "setPipelineStatus:ongoing": "none",
  "setPipelineStatus:completed": "none",
  "setExperimentStatus:completed": "none",
  listPipelines: "rows",
  getPipeline: "rows",
  createTask: "id",
  "setTaskStatus:in_progress": "none",
  "setTaskStatus:completed": "none",
  setTaskStartTime: "none",
  listRunning: "rows",
  setPipelineProgress: "none",
  setTaskEndTime: "none",
  createRunningTask: "id",
  completeWithProgress: "rows",
  claimNext: "rows",
  countByStatus: "rows",
};

/**
 * The capture's inputs: each distinct from the others and from the small
 * constants SQL binds. Two sets: the plan is captured once with each and the
 * two must agree, so that an input which happens to equal a constant (a
 * default of 3 attempts, say) is caught instead of being frozen into the plan.
 */
const SENTINELS = [
  {
    name: "rf-bench-sentinel",
    numActors: 7,
    numShards: 61,
    actor: 13,
    shard: 41,
    cur: 43,
    done: 44,
    samples: 5632,
    t: 1_712_345_678_901,
    dur: 12.345,
    idFloor: 100_000,
  },
  {
    name: "rf-bench-other",
    numActors: 9,
    numShards: 67,
    actor: 15,
    shard: 47,
    cur: 53,
    done: 54,
    samples: 6656,
    t: 1_712_345_987_654,
    dur: 23.456,
    idFloor: 500_000,
  },
] as const;

/** Is a statement a reader, with which columns? Asked of SQLite itself (libsql's `Statement.reader`, `columns()`). */
export type ReaderProbe = (sql: string) => { reader: boolean; columns: string[] };

/**
 * Captures the plan through `db` (a migrated, empty scratch database — it is
 * written to). Freshly created rows get their ids moved up (raw SQL) so that
 * later ids are large.
 */
export async function capturePlan(db: RFDatabase, isReader: ReaderProbe, variant: 0 | 1 = 0): Promise<Plan> {
  const client: Client = db.client;
  const calls: Partial<Record<PlanKey, PlanEntry>> = {};
  const bump = async (table: string, col: string, id: number, to: number) => {
    await client.execute({ sql: `UPDATE ${table} SET ${col} = ? WHERE ${col} = ?`, args: [to, id] });
    return to;
  };
  const capture = async <R>(key: PlanKey, inputs: Record<string, unknown>, fn: () => Promise<R>): Promise<R> => {
    let value: R | undefined;
    const cap = await captureStatements(client, async () => {
      value = await fn();
    });
    if (cap.error) throw new Error(`plan: ${key} failed while capturing: ${String(cap.error)}`);
    const byCall = new Map<number, PlanClientCall>();
    for (const st of cap.statements) {
      let cc = byCall.get(st.call);
      if (!cc) byCall.set(st.call, (cc = { batch: st.batch, statements: [] }));
      const { reader, columns } = isReader(st.sql);
      const args = st.args.map((v, k) => traceArg(key, inputs, v, k, st.sql));
      const one = reader && /limit \?\s*$/i.test(st.sql.trim()) && st.args[st.args.length - 1] === 1;
      cc.statements.push({
        sql: st.sql,
        args,
        reader,
        one,
        ...(reader ? { columns } : {}),
        ...(!reader && st.rowsAffected === 0 ? { mayChangeNothing: true } : {}),
      });
    }
    const clientCalls = [...byCall.values()];
    const all = clientCalls.flatMap((c) => c.statements);
    const returns = RETURNS[key];
    const resultStmt =
      returns === "id"
        ? all.find((s) => /^\s*insert/i.test(s.sql))
        : returns === "rows"
          ? all.filter((s) => s.reader).at(-1)
          : undefined;
    if (returns !== "none" && !resultStmt) throw new Error(`plan: ${key}: no statement gives its result`);
    if (resultStmt) resultStmt.result = true;
    calls[key] = { clientCalls, returns };
    return value as R;
  };

  const s = SENTINELS[variant];
  const T = s.t;
  const ID_FLOOR = s.idFloor;
  const t = new Date(T);
  let eid = await capture("createExperiment", { name: s.name, numActors: s.numActors, numShards: s.numShards }, () =>
    db.experiments.create({ experimentName: s.name, numActors: s.numActors, numShards: s.numShards }),
  );
  eid = await bump("experiments", "experiment_id", eid, ID_FLOOR + 1);
  const newPipeline = (pipelineName: string, status: "new" | "ongoing") =>
    db.pipelines.create({
      experimentId: eid,
      pipelineName,
      pipelineType: "vllm",
      modelConfig: MODEL_CONFIG_OBJ,
      samplingParams: SAMPLING_PARAMS_OBJ,
      status,
    });
  let pid = await capture("createPipeline:new", { eid, name: s.name }, () => newPipeline(s.name, "new"));
  pid = await bump("pipelines", "pipeline_id", pid, 2 * ID_FLOOR + 1);
  const pid2 = await capture("createPipeline:ongoing", { eid, name: `${s.name}-2` }, () =>
    newPipeline(`${s.name}-2`, "ongoing"),
  );
  await capture("setPipelineStatus:ongoing", { pid }, () => db.pipelines.setStatus(pid, "ongoing"));
  const task = { experimentId: eid, pipelineId: pid, actorId: s.actor, shardId: s.shard };
  let tid = await capture("createTask", { eid, pid, actor: s.actor, shard: s.shard }, () => db.actorTasks.create(task));
  tid = await bump("actor_tasks", "task_id", tid, 3 * ID_FLOOR + 1);
  await capture("setTaskStatus:in_progress", { tid }, () => db.actorTasks.setStatus(tid, "in_progress"));
  await capture("setTaskStartTime", { tid, t: T }, () => db.actorTasks.setStartTime(tid, t));
  await capture("listRunning", { eid }, () => db.actorTasks.listRunning(eid));
  await capture("setPipelineProgress", { pid, cur: s.cur, done: s.done, samples: s.samples }, () =>
    db.pipelines.setProgress(pid, { currentShardId: s.cur, shardsCompleted: s.done, totalSamplesProcessed: s.samples }),
  );
  await capture("setTaskEndTime", { tid, t: T, dur: s.dur }, () => db.actorTasks.setEndTime(tid, t, s.dur));
  await capture("setTaskStatus:completed", { tid }, () => db.actorTasks.setStatus(tid, "completed"));
  await capture("listPipelines", { eid }, () => db.pipelines.list(eid));
  await capture("getPipeline", { pid }, () => db.pipelines.get(pid));
  // Fused form, on the second pipeline.
  const running = await capture("createRunningTask", { eid, pid: pid2, actor: s.actor, shard: s.shard, t: T }, () =>
    db.actorTasks.create({
      experimentId: eid,
      pipelineId: pid2,
      actorId: s.actor,
      shardId: s.shard,
      status: "in_progress",
      startedAt: t,
    }),
  );
  await capture("completeWithProgress", { tid: running, samples: s.samples, cur: s.cur, t: T + 1 }, () =>
    db.actorTasks.completeWithProgress(running, { samples: s.samples, currentShardId: s.cur }, new Date(T + 1)),
  );
  // The actor loop (remote and scale-out sections): claim a scheduled task.
  await db.actorTasks.create({ ...task, pipelineId: pid2, shardId: s.shard + 1 });
  const claimed = await capture("claimNext", { eid, actor: s.actor, t: T + 2 }, () =>
    db.actorTasks.claimNext(eid, s.actor, new Date(T + 2)),
  );
  if (!claimed) throw new Error("plan: claimNext claimed nothing");
  await capture("countByStatus", { eid }, () => db.actorTasks.countByStatus(eid));
  await capture("setPipelineStatus:completed", { pid }, () => db.pipelines.setStatus(pid, "completed"));
  await capture("setExperimentStatus:completed", { eid }, () => db.experiments.setStatus(eid, "completed"));
  return { calls: calls as Record<PlanKey, PlanEntry> };
}

/** Throws unless two captures (with different inputs) traced every argument the same way. */
export function assertSamePlan(a: Plan, b: Plan): void {
  for (const key of Object.keys(a.calls)) {
    const x = JSON.stringify(a.calls[key]!.clientCalls.map((c) => c.statements.map((s) => [s.sql, s.args])));
    const y = JSON.stringify(b.calls[key]?.clientCalls.map((c) => c.statements.map((s) => [s.sql, s.args])));
    if (x !== y)
      throw new Error(`plan: ${key} differs between two captures (an input equal to a constant?)\n${x}\n${y}`);
  }
}

function traceArg(key: PlanKey, inputs: Record<string, unknown>, v: unknown, k: number, sql: string): ArgSpec {
  const value = v instanceof Date ? v.getTime() : typeof v === "bigint" ? Number(v) : v;
  const hits = Object.entries(inputs).filter(([, x]) => x === value);
  if (hits.length > 1)
    throw new Error(`plan: ${key}: argument ${k} (${String(value)}) matches ${hits.map((h) => h[0]).join(" and ")}`);
  if (hits.length === 1) return { in: hits[0]![0] };
  if (typeof value === "number" && Math.abs(value - Date.now()) < 86_400_000) return { in: "t", enc: "now" };
  if (value === undefined || value === null) return { c: null };
  if (typeof value === "number" || typeof value === "string") return { c: value };
  if (typeof value === "boolean") return { c: value ? 1 : 0 };
  throw new Error(`plan: ${key}: argument ${k} of an unexpected type (${typeof value}) in ${sql.slice(0, 60)}`);
}

/** Binds a statement's arguments for a call's inputs. */
export function bindArgs(args: ArgSpec[], inputs: Record<string, unknown>): unknown[] {
  const out = new Array(args.length);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if ("c" in a) out[i] = a.c;
    else if (a.enc === "now") out[i] = Date.now();
    else out[i] = inputs[a.in];
  }
  return out;
}
