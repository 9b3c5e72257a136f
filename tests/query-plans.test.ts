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
import { CALLS, capture, seed, type Captured, type Ids, type Repo } from "./support/repository-calls";

/** Whole-table results by definition: a scan is the plan, but it must come in index/rowid order. */
const WHOLE_TABLE = new Set(["icOperations.listAll", "experiments.listNames"]);
/** Newest first: a scan in rowid order that stops after LIMIT rows (no sort). */
const NEWEST_FIRST = new Set(["experiments.getLatest", "experiments.listRecent"]);
/**
 * Allowed a temporary B-tree: a once-per-run summary (the demo's tasks per actor) grouping one
 * experiment's completed tasks, found by actor_tasks_experiment_status_idx; an index on
 * (experiment_id, status, actor_id) would remove the sort.
 */
const SUMMARY_SORT = new Set(["actorTasks.countCompletedByActor"]);
/**
 * A recursive walk (pipelines.lineage): SQLite scans the CTE's own queue and sorts the result by
 * depth — a handful of rows, the lineage itself; the pipelines are reached by primary key and
 * pipelines_parent_idx (checked in EXPECTED).
 */
const RECURSIVE = new Set(["pipelines.lineage"]);
const CTE_LINE =
  /^(SCAN (up|down|lineage)\b|SCAN CONSTANT ROW|(COMPOUND|RECURSIVE|SETUP|UNION ALL|MATERIALIZE|CO-ROUTINE)\b|USE TEMP B-TREE FOR ORDER BY)/;

/** What the issue names explicitly, and the index each must use. */
const EXPECTED: Record<string, RegExp> = {
  "experiments.get": /SEARCH experiments USING INTEGER PRIMARY KEY/,
  "experiments.getCurrent": /SEARCH experiments USING (COVERING )?INDEX experiments_status_idx/,
  "experiments.getRunningOrLatest": /SEARCH experiments USING (COVERING )?INDEX experiments_status_idx/,
  "experiments.getByName": /SEARCH experiments USING (COVERING )?INDEX experiments_name_idx/,
  "contexts.get": /SEARCH contexts USING INTEGER PRIMARY KEY/,
  "contexts.getByHash": /SEARCH contexts USING INDEX contexts_hash_idx/,
  "pipelines.get": /SEARCH pipelines USING INTEGER PRIMARY KEY/,
  "pipelines.list": /SEARCH pipelines USING INDEX pipelines_(experiment|summary)_idx/,
  // Keyset pages (src/repositories/paging.ts): the id range follows the equality in the same index.
  "pipelines.listSummaries":
    /SEARCH pipelines USING COVERING INDEX pipelines_summary_idx \(experiment_id=\? AND pipeline_id>\?\)/,
  "pipelines.getByMetricRunId": /SEARCH pipelines USING INDEX pipelines_metric_run_idx/,
  "pipelines.lineage": /SEARCH \w+ USING (COVERING )?INDEX pipelines_parent_idx/,
  "actorTasks.get": /SEARCH actor_tasks USING INTEGER PRIMARY KEY/,
  "actorTasks.listRunning":
    /SEARCH actor_tasks USING INDEX actor_tasks_experiment_status_idx \(experiment_id=\? AND status=\? AND rowid>\?\)/,
  "actorTasks.claimNext":
    /SEARCH actor_tasks USING (COVERING )?INDEX actor_tasks_experiment_status_idx \(experiment_id=\? AND status=\?\)/,
  "actorTasks.countCompletedByActor":
    /SEARCH actor_tasks USING (COVERING )?INDEX actor_tasks_experiment_status_idx \(experiment_id=\? AND status=\?\)/,
  // COVERING since the status trigger: SQLite collects the rowids first, then updates them.
  "actorTasks.failUnfinished": /SEARCH actor_tasks USING (COVERING )?INDEX actor_tasks_experiment_status_idx/,
  // The trigger-kept counters (src/schema/task-counts.ts): one row by primary key, whatever the tasks.
  "actorTasks.countByStatus": /SEARCH actor_task_counts USING INTEGER PRIMARY KEY \(rowid=\?\)/,
  "icOperations.get": /SEARCH interactive_control USING INTEGER PRIMARY KEY/,
  // With statistics saying most operations are pending (the skewed set), the planner reads them in id
  // order from the table instead: the same rows, from the page's first id, no sort.
  "icOperations.listPending":
    /SEARCH interactive_control USING ((COVERING )?INDEX interactive_control_status_idx \(status=\? AND ic_id>\?\)|INTEGER PRIMARY KEY \(rowid>\?\))/,
  "icOperations.claimNext": /SEARCH interactive_control USING (COVERING )?INDEX interactive_control_status_idx/,
};

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
      const allowed = offending(lines, WHOLE_TABLE.has(base) || NEWEST_FIRST.has(base))
        .filter((l) => !(SUMMARY_SORT.has(base) && /USE TEMP B-TREE FOR (GROUP|ORDER) BY/.test(l)))
        .filter((l) => !(RECURSIVE.has(base) && CTE_LINE.test(l)));
      expect(allowed, `${sql}\n  plan: ${lines.join(" / ")}`).toEqual([]);
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
    // Methods come from the class and the shared bases it extends (lifecycle.ts, base-repository.ts);
    // these are the bases' protected helpers, not public methods.
    const internal = new Set([
      "constructor",
      "compiled",
      "rows",
      "insert",
      "settle",
      "updateById",
      "insertedId",
      "found",
      "explainRefusal",
      "move",
      "refusal",
      "completion",
      "completed",
      "paged",
    ]);
    const classes: [Repo, { prototype: object }][] = [
      ["experiments", ExperimentRepository],
      ["contexts", ContextRepository],
      ["pipelines", PipelineRepository],
      ["actorTasks", ActorTaskRepository],
      ["icOperations", IcOperationRepository],
    ];
    for (const [repo, cls] of classes) {
      const methods = new Set<string>();
      for (let proto = cls.prototype; proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
        for (const n of Object.getOwnPropertyNames(proto))
          if (!internal.has(n) && typeof Object.getOwnPropertyDescriptor(proto, n)?.value === "function")
            methods.add(n);
      }
      const covered = new Set(CALLS.filter((c) => c.repo === repo).map((c) => c.method.replace(/\(.*\)$/, "")));
      expect(
        [...methods].filter((m) => !covered.has(m)),
        `${repo}: methods without a query-plan check`,
      ).toEqual([]);
    }
  });
});
