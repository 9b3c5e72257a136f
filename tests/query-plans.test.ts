/**
 * Every statement the repositories send is served by an index or the primary
 * key: `EXPLAIN QUERY PLAN` of each one (captured from the real calls, with
 * their real arguments) shows no full `SCAN` of a table and no temporary
 * B-tree for ORDER BY / GROUP BY / DISTINCT — so the dashboard reads stay
 * sub-millisecond at a million tasks (bench/run.ts measures that) instead
 * of growing with the table like the Python module's full scan.
 *
 * Checked twice: on the planner's defaults (a fresh database, no statistics —
 * what every deployment starts with) and after `ANALYZE` on a skewed data
 * set (most tasks completed, a few running), so statistics cannot talk the
 * planner into a scan either.
 *
 * The only table scans allowed are the two calls that return a whole table
 * by definition (icOperations.listAll, experiments.listNames), and even those
 * must not sort in a temporary B-tree.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client, InArgs, InStatement } from "@libsql/client";
import Database from "libsql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ActorTaskRepository,
  ContextRepository,
  ExperimentRepository,
  IcOperationRepository,
  PipelineRepository,
  RFDatabase,
} from "../src/index";

type Repo = "experiments" | "contexts" | "pipelines" | "actorTasks" | "icOperations";

interface Ids {
  experimentId: number;
  pipelineId: number;
  contextId: number;
  taskId: number;
  runningTaskId: number;
  icId: number;
}

/** One call per public method (plus variants that send different SQL). */
const CALLS: { repo: Repo; method: string; run: (db: RFDatabase, ids: Ids) => Promise<unknown> }[] = [
  {
    repo: "experiments",
    method: "create",
    run: (db) => db.experiments.create({ experimentName: "qp", numActors: 2, numShards: 4 }),
  },
  { repo: "experiments", method: "get", run: (db, i) => db.experiments.get(i.experimentId) },
  { repo: "experiments", method: "getCurrent", run: (db) => db.experiments.getCurrent() },
  { repo: "experiments", method: "getByName", run: (db) => db.experiments.getByName("exp-1") },
  { repo: "experiments", method: "listNames", run: (db) => db.experiments.listNames() },
  { repo: "experiments", method: "setStatus", run: (db, i) => db.experiments.setStatus(i.experimentId, "running") },
  { repo: "experiments", method: "setError", run: (db, i) => db.experiments.setError(i.experimentId, "x") },
  { repo: "experiments", method: "getError", run: (db, i) => db.experiments.getError(i.experimentId) },
  { repo: "experiments", method: "setNumShards", run: (db, i) => db.experiments.setNumShards(i.experimentId, 64) },

  {
    repo: "contexts",
    method: "create",
    run: (db) => db.contexts.create({ contextHash: "qp-hash", ragConfig: { k: 1 } }),
  },
  { repo: "contexts", method: "create(existing hash)", run: (db) => db.contexts.create({ contextHash: "qp-hash" }) },
  { repo: "contexts", method: "get", run: (db, i) => db.contexts.get(i.contextId) },
  { repo: "contexts", method: "getByHash", run: (db) => db.contexts.getByHash("hash-1") },
  { repo: "contexts", method: "setStatus", run: (db, i) => db.contexts.setStatus(i.contextId, "building") },
  {
    repo: "contexts",
    method: "setStartTime",
    run: (db, i) => db.contexts.setStartTime(i.contextId, new Date(Date.now() - 1000)),
  },
  { repo: "contexts", method: "setEndTime", run: (db, i) => db.contexts.setEndTime(i.contextId, new Date()) },
  {
    repo: "contexts",
    method: "setEndTime(duration)",
    run: (db, i) => db.contexts.setEndTime(i.contextId, new Date(), 1),
  },
  { repo: "contexts", method: "setError", run: (db, i) => db.contexts.setError(i.contextId, "x") },

  {
    repo: "pipelines",
    method: "create",
    run: (db, i) =>
      db.pipelines.create({
        experimentId: i.experimentId,
        pipelineName: "qp",
        pipelineType: "vllm",
        modelConfig: {},
        samplingParams: {},
      }),
  },
  { repo: "pipelines", method: "get", run: (db, i) => db.pipelines.get(i.pipelineId) },
  { repo: "pipelines", method: "list", run: (db, i) => db.pipelines.list(i.experimentId) },
  { repo: "pipelines", method: "setStatus", run: (db, i) => db.pipelines.setStatus(i.pipelineId, "ongoing") },
  {
    repo: "pipelines",
    method: "setProgress",
    run: (db, i) =>
      db.pipelines.setProgress(i.pipelineId, { currentShardId: 1, shardsCompleted: 1, totalSamplesProcessed: 1 }),
  },
  {
    repo: "pipelines",
    method: "advanceProgress",
    run: (db, i) => db.pipelines.advanceProgress(i.pipelineId, { samples: 1 }),
  },
  { repo: "pipelines", method: "setError", run: (db, i) => db.pipelines.setError(i.pipelineId, "x") },

  {
    repo: "actorTasks",
    method: "create",
    run: (db, i) =>
      db.actorTasks.create({ experimentId: i.experimentId, pipelineId: i.pipelineId, actorId: 0, shardId: 0 }),
  },
  {
    repo: "actorTasks",
    method: "create(in_progress, startedAt)",
    run: (db, i) =>
      db.actorTasks.create({
        experimentId: i.experimentId,
        pipelineId: i.pipelineId,
        actorId: 0,
        shardId: 0,
        status: "in_progress",
        startedAt: new Date(),
      }),
  },
  { repo: "actorTasks", method: "get", run: (db, i) => db.actorTasks.get(i.taskId) },
  { repo: "actorTasks", method: "listRunning", run: (db, i) => db.actorTasks.listRunning(i.experimentId) },
  { repo: "actorTasks", method: "setStatus", run: (db, i) => db.actorTasks.setStatus(i.taskId, "scheduled") },
  { repo: "actorTasks", method: "setStartTime", run: (db, i) => db.actorTasks.setStartTime(i.taskId, new Date()) },
  { repo: "actorTasks", method: "setEndTime", run: (db, i) => db.actorTasks.setEndTime(i.taskId, new Date()) },
  {
    repo: "actorTasks",
    method: "setEndTime(duration)",
    run: (db, i) => db.actorTasks.setEndTime(i.taskId, new Date(), 1),
  },
  { repo: "actorTasks", method: "setError", run: (db, i) => db.actorTasks.setError(i.taskId, "x") },
  { repo: "actorTasks", method: "start", run: (db, i) => db.actorTasks.start(i.taskId) },
  { repo: "actorTasks", method: "complete", run: (db, i) => db.actorTasks.complete(i.taskId) },
  { repo: "actorTasks", method: "fail", run: (db, i) => db.actorTasks.fail(i.runningTaskId, "x") },
  // the refusal path: the conditional UPDATE, then the status read that explains it
  {
    repo: "actorTasks",
    method: "start(refused)",
    run: (db, i) => db.actorTasks.start(i.runningTaskId).catch(() => undefined),
  },
  {
    repo: "actorTasks",
    method: "completeWithProgress",
    run: async (db, i) => {
      const id = await db.actorTasks.create({
        experimentId: i.experimentId,
        pipelineId: i.pipelineId,
        actorId: 0,
        shardId: 1,
        status: "in_progress",
        startedAt: new Date(),
      });
      return db.actorTasks.completeWithProgress(id, { samples: 3, currentShardId: 1 });
    },
  },
  { repo: "actorTasks", method: "claimNext", run: (db, i) => db.actorTasks.claimNext(i.experimentId, 3) },
  { repo: "actorTasks", method: "countByStatus", run: (db, i) => db.actorTasks.countByStatus(i.experimentId) },

  {
    repo: "icOperations",
    method: "create",
    run: (db, i) => db.icOperations.create({ operation: "stop", pipelineId: i.pipelineId }),
  },
  { repo: "icOperations", method: "get", run: (db, i) => db.icOperations.get(i.icId) },
  { repo: "icOperations", method: "listPending", run: (db) => db.icOperations.listPending() },
  { repo: "icOperations", method: "listAll", run: (db) => db.icOperations.listAll() },
  { repo: "icOperations", method: "claimNext", run: (db) => db.icOperations.claimNext() },
  { repo: "icOperations", method: "setStatus", run: (db, i) => db.icOperations.setStatus(i.icId, "completed") },
];

/** Whole-table results by definition: a scan is the plan, but it must come in index/rowid order. */
const WHOLE_TABLE = new Set(["icOperations.listAll", "experiments.listNames"]);

/** What the issue names explicitly, and the index each must use. */
const EXPECTED: Record<string, RegExp> = {
  "experiments.get": /SEARCH experiments USING INTEGER PRIMARY KEY/,
  "experiments.getCurrent": /SEARCH experiments USING (COVERING )?INDEX experiments_status_idx/,
  "experiments.getByName": /SEARCH experiments USING (COVERING )?INDEX experiments_name_idx/,
  "contexts.get": /SEARCH contexts USING INTEGER PRIMARY KEY/,
  "contexts.getByHash": /SEARCH contexts USING INDEX contexts_hash_idx/,
  "pipelines.get": /SEARCH pipelines USING INTEGER PRIMARY KEY/,
  "pipelines.list": /SEARCH pipelines USING INDEX pipelines_experiment_idx/,
  "actorTasks.get": /SEARCH actor_tasks USING INTEGER PRIMARY KEY/,
  "actorTasks.listRunning":
    /SEARCH actor_tasks USING INDEX actor_tasks_experiment_status_idx \(experiment_id=\? AND status=\?\)/,
  "actorTasks.claimNext":
    /SEARCH actor_tasks USING (COVERING )?INDEX actor_tasks_experiment_status_idx \(experiment_id=\? AND status=\?\)/,
  "actorTasks.countByStatus":
    /SEARCH actor_tasks USING COVERING INDEX actor_tasks_experiment_status_idx \(experiment_id=\? AND status=\?\)/,
  "icOperations.get": /SEARCH interactive_control USING INTEGER PRIMARY KEY/,
  "icOperations.listPending": /SEARCH interactive_control USING (COVERING )?INDEX interactive_control_status_idx/,
  "icOperations.claimNext": /SEARCH interactive_control USING (COVERING )?INDEX interactive_control_status_idx/,
};

interface Captured {
  sql: string;
  args: unknown[];
}

/** Every statement `fn` sends through `client` (execute and batch). */
async function capture(client: Client, fn: () => Promise<unknown>): Promise<Captured[]> {
  const out: Captured[] = [];
  const c = client as unknown as Record<string, unknown>;
  const execute = client.execute.bind(client);
  const batch = client.batch.bind(client);
  const norm = (s: InStatement | [string, InArgs?]): Captured =>
    typeof s === "string"
      ? { sql: s, args: [] }
      : Array.isArray(s)
        ? { sql: s[0], args: (s[1] ?? []) as unknown[] }
        : { sql: s.sql, args: (s.args ?? []) as unknown[] };
  let last: InStatement | undefined;
  c.execute = (stmt: InStatement, args?: InArgs) => {
    if (typeof stmt === "string") {
      // the local client re-dispatches a deferred call to itself as execute(sql, args): not a new statement
      if (!(last && typeof last !== "string" && last.sql === stmt && last.args === args))
        out.push({ sql: stmt, args: (args ?? []) as unknown[] });
      return execute(stmt, args);
    }
    last = stmt;
    out.push(norm(stmt));
    return execute(stmt);
  };
  c.batch = (stmts: Array<InStatement | [string, InArgs?]>, mode?: Parameters<Client["batch"]>[1]) => {
    out.push(...stmts.map(norm));
    return batch(stmts, mode);
  };
  try {
    await fn();
  } finally {
    delete c.execute;
    delete c.batch;
  }
  return out;
}

/**
 * The plan, asked on a second, plain libsql connection to the same file. (Not through the
 * package's client: SQLite counts an EXPLAIN of a write statement as an active write until the
 * statement is reset, and libsql 0.5 does not reset a statement after all() has read it to the
 * end, so a cached `EXPLAIN QUERY PLAN UPDATE …` makes that connection's next COMMIT fail with
 * "SQL statements in progress".)
 */
function plan(raw: Database.Database, s: Captured): string[] {
  const args = s.args.map((a) => (a instanceof Date ? a.getTime() : typeof a === "boolean" ? Number(a) : a));
  return (raw.prepare(`EXPLAIN QUERY PLAN ${s.sql}`).all(args) as { detail: string }[]).map((r) => r.detail);
}

/** Plan lines that read a whole table (not through an index or the rowid), or sort/group/dedupe in a temporary B-tree. */
function offending(lines: string[], wholeTable: boolean): string[] {
  return lines.filter((l) => {
    if (/^SCAN \w+( AS \w+)?$/.test(l) || /^SCAN \w+ USING (COVERING )?INDEX/.test(l)) return !wholeTable;
    return /USE TEMP B-TREE/.test(l);
  });
}

async function seed(db: RFDatabase, skewed: boolean): Promise<Ids> {
  const experimentId = await db.experiments.create({ experimentName: "exp-1", numActors: 4, numShards: 64 });
  await db.experiments.create({ experimentName: "exp-2", numActors: 4, numShards: 64, status: "completed" });
  const contextId = await db.contexts.create({ contextHash: "hash-1", ragConfig: { k: 3 } });
  const pipelineId = await db.pipelines.create({
    experimentId,
    contextId,
    pipelineName: "p",
    pipelineType: "vllm",
    modelConfig: {},
    samplingParams: {},
  });
  const taskId = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 0 });
  const runningTaskId = await db.actorTasks.create({
    experimentId,
    pipelineId,
    actorId: 1,
    shardId: 1,
    status: "in_progress",
    startedAt: new Date(),
  });
  const icId = await db.icOperations.create({ operation: "stop", pipelineId });
  if (skewed) {
    // Mostly finished work, a little running or pending: what a long-lived database looks like.
    await db.transaction(async (tx) => {
      for (let p = 0; p < 20; p++) {
        const pid = await tx.pipelines.create({
          experimentId,
          pipelineName: `p${p}`,
          pipelineType: "vllm",
          modelConfig: {},
          samplingParams: {},
          status: "completed",
        });
        for (let s = 0; s < 100; s++)
          await tx.actorTasks.create({
            experimentId,
            pipelineId: pid,
            actorId: s % 4,
            shardId: s,
            status: s === 99 && p < 2 ? "in_progress" : "completed",
          });
        await tx.icOperations.create({ operation: "resume", pipelineId: pid });
        await tx.contexts.create({ contextHash: `h${p}` });
      }
      for (let k = 0; k < 50; k++)
        await tx.experiments.create({ experimentName: `old-${k % 10}`, numActors: 1, status: "completed" });
    });
    await db.client.execute("ANALYZE");
  }
  return { experimentId, pipelineId, contextId, taskId, runningTaskId, icId };
}

describe.each([
  ["planner defaults (no statistics)", false],
  ["after ANALYZE on a skewed data set", true],
] as const)("query plans: %s", (_label, skewed) => {
  let db: RFDatabase;
  let raw: Database.Database;
  let dir: string;
  let ids: Ids;
  const plans = new Map<string, { sql: string; lines: string[] }[]>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "rf-query-plans-"));
    const path = join(dir, "plans.db");
    db = await RFDatabase.open({ url: `file:${path}` });
    ids = await seed(db, skewed);
    raw = new Database(path);
    for (const call of CALLS) {
      const key = `${call.repo}.${call.method}`;
      const statements = await capture(db.client, () => call.run(db, ids));
      plans.set(
        key,
        statements.map((s) => ({ sql: s.sql, lines: plan(raw, s) })),
      );
    }
  });
  afterAll(async () => {
    raw?.close();
    await db?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(CALLS.map((c) => `${c.repo}.${c.method}`))("%s uses an index or the primary key", (key) => {
    const explained = plans.get(key)!;
    expect(explained.length, `${key} sent no statement`).toBeGreaterThan(0);
    const base = key.replace(/\(.*\)$/, "");
    for (const { sql, lines } of explained) {
      expect(offending(lines, WHOLE_TABLE.has(base)), `${sql}\n  plan: ${lines.join(" / ")}`).toEqual([]);
    }
    const want = EXPECTED[key];
    if (want) {
      const all = explained.flatMap((e) => e.lines);
      expect(
        all.some((l) => want.test(l)),
        `${key}: expected a plan line matching ${want}, got ${all.join(" / ")}`,
      ).toBe(true);
    }
  });

  it.skipIf(!process.env.RF_PRINT_PLANS)("prints the plans", () => {
    for (const [k, v] of plans) for (const e of v) console.log(`${k}: ${e.lines.join(" / ")}`);
  });

  it("every public repository method is covered", () => {
    const classes: [Repo, { prototype: object }, string[]][] = [
      ["experiments", ExperimentRepository, []],
      ["contexts", ContextRepository, ["update"]],
      ["pipelines", PipelineRepository, ["update"]],
      ["actorTasks", ActorTaskRepository, ["update", "explainRefusal"]],
      ["icOperations", IcOperationRepository, []],
    ];
    for (const [repo, cls, privates] of classes) {
      const methods = Object.getOwnPropertyNames(cls.prototype).filter(
        (n) =>
          n !== "constructor" &&
          !privates.includes(n) &&
          typeof (cls.prototype as Record<string, unknown>)[n] === "function",
      );
      const covered = new Set(CALLS.filter((c) => c.repo === repo).map((c) => c.method.replace(/\(.*\)$/, "")));
      expect(
        methods.filter((m) => !covered.has(m)),
        `${repo}: methods without a query-plan check`,
      ).toEqual([]);
    }
  });
});
