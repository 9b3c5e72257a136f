/**
 * Dashboards at scale: does a status view cost the same whatever the size of
 * the experiment? One experiment per file with N tasks (100 pipelines × N/100
 * shards; the first 60 % of shards completed, 1 % of those failed, 8 tasks in
 * progress, the rest scheduled), for N = 10k, 100k, 1M (10M on request),
 * generated with raw SQL (a recursive CTE, one transaction) and cached under
 * bench/.work/ per schema (the migrations' hashes) and generator version.
 *
 * Measured through the package, many calls each, p50/p99:
 * - `actorTasks.countByStatus(experimentId)`;
 * - the status summary `rf-db status` reads: experiments.get + pipelines.list
 *   + countByStatus + listRunning;
 * - `db.snapshot(experimentId)` when the package has it;
 * - `actorTasks.listRunning(experimentId)` (an index range of 8 rows);
 * - the countByStatus SQL on raw libsql (what the engine alone costs), and the
 *   Python module's running-task query (it has no index on status: a scan of
 *   the whole table) for contrast.
 * Then the slope between the smallest and the largest N: ns per task.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "libsql";
import { MIGRATIONS, RFDatabase } from "../../src/index";
import type { Plan } from "../lib/plan";
import { bindArgs } from "../lib/plan";
import { quantile } from "../lib/stats";

const GENERATOR_VERSION = 1; // the cache key also hashes the migrations (the counters' triggers fill their table)
const PIPELINES = 100;

export interface DashboardPoint {
  tasks: number;
  sizeMiB: number;
  generatedMs: number | null;
  /** call → { n, p50, p99 } in ms */
  calls: Record<string, { n: number; p50: number; p99: number }>;
}

export interface DashboardResult {
  points: DashboardPoint[];
  /** call → ns per task between the smallest and the largest N (p50). */
  slopeNsPerTask: Record<string, number>;
  /** EXPLAIN QUERY PLAN of the package's dashboard SQL, at the largest N. */
  plans: Record<string, string[]>;
}

/**
 * What countByStatus ran before the trigger-kept counters (four index range counts over
 * actor_tasks_experiment_status_idx): its cost grows with the experiment, kept here for contrast.
 */
const COUNT_BY_INDEX = `SELECT ${["scheduled", "in_progress", "completed", "failed"]
  .map((s) => `(SELECT count(*) FROM actor_tasks WHERE experiment_id = ?1 AND status = '${s}')`)
  .join(", ")}`;

const MODULE_RUNNING =
  "SELECT task_id, pipeline_id, actor_id, shard_id, status, error_message, started_at, completed_at, duration_seconds FROM actor_tasks WHERE status = ? ORDER BY task_id DESC";

function cacheKey(n: number): string {
  const h = createHash("sha256");
  h.update(`${GENERATOR_VERSION}:${n}`);
  for (const m of MIGRATIONS) h.update(m.hash);
  return h.digest("hex").slice(0, 12);
}

async function dashboardFile(workDir: string, n: number, log: (s: string) => void) {
  mkdirSync(workDir, { recursive: true });
  const path = join(workDir, `dash-${n}-${cacheKey(n)}.db`);
  if (existsSync(path)) return { path, generatedMs: null };
  const tmp = `${path}.tmp`;
  for (const sfx of ["", "-wal", "-shm"]) rmSync(tmp + sfx, { force: true });
  // Schema, experiment and pipelines through the package.
  const db = await RFDatabase.open({ url: `file:${tmp}` });
  const eid = await db.experiments.create({ experimentName: `dashboard-${n}`, numActors: 4, numShards: n / PIPELINES });
  for (let p = 0; p < PIPELINES; p++)
    await db.pipelines.create({
      experimentId: eid,
      pipelineName: `pipeline-${p}`,
      pipelineType: "vllm",
      modelConfig: { model: "llama-3-8b-instruct" },
      samplingParams: { temperature: 0.7 },
      status: "ongoing",
    });
  await db.close();
  const t0 = performance.now();
  const raw = new Database(tmp);
  raw.exec("PRAGMA synchronous = OFF");
  raw.exec("PRAGMA cache_size = -524288");
  const shards = n / PIPELINES;
  const doneShards = Math.floor(shards * 0.6);
  const first = (raw.prepare("SELECT min(pipeline_id) FROM pipelines").raw(true).get([]) as number[])[0]!;
  raw.exec("BEGIN IMMEDIATE");
  // Shard-major, as a controller schedules: task k is shard k / 100 of pipeline k % 100.
  raw.exec(`WITH RECURSIVE t(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM t WHERE k < ${n - 1}),
    x AS (SELECT k, k % ${PIPELINES} AS p, k / ${PIPELINES} AS s FROM t),
    y AS (SELECT k, p, s, CASE
            WHEN s < ${doneShards} THEN (CASE WHEN k % 100 = 37 THEN 'failed' ELSE 'completed' END)
            WHEN s = ${doneShards} AND p % 12 = 0 AND p < 96 THEN 'in_progress'
            ELSE 'scheduled' END AS st FROM x)
    INSERT INTO actor_tasks (experiment_id, pipeline_id, actor_id, shard_id, status, error_message, started_at, completed_at, duration_seconds)
    SELECT ${eid}, ${first} + p, p % 4, s, st,
      CASE WHEN st = 'failed' THEN 'CUDA out of memory' END,
      CASE WHEN st <> 'scheduled' THEN 1700000000000 + k * 100 END,
      CASE WHEN st IN ('completed', 'failed') THEN 1700000000000 + k * 100 + 2500 END,
      CASE WHEN st IN ('completed', 'failed') THEN 2.5 END
    FROM y`);
  raw.exec(`UPDATE pipelines SET current_shard_id = ${doneShards}, shards_completed = ${doneShards}`);
  raw.exec("COMMIT");
  raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  raw.close();
  const generatedMs = performance.now() - t0;
  renameSync(tmp, path);
  for (const sfx of ["-wal", "-shm"]) rmSync(tmp + sfx, { force: true });
  log(`  generated ${n.toLocaleString("en-US")} tasks in ${(generatedMs / 1000).toFixed(1)} s`);
  return { path, generatedMs };
}

async function time(budgetMs: number, maxCalls: number, fn: () => Promise<unknown>) {
  for (let i = 0; i < 3; i++) await fn(); // page cache and JIT
  const xs: number[] = [];
  const t0 = performance.now();
  while (xs.length < maxCalls && (xs.length < 5 || performance.now() - t0 < budgetMs)) {
    const t = performance.now();
    await fn();
    xs.push(performance.now() - t);
  }
  return { n: xs.length, p50: quantile(xs, 0.5), p99: quantile(xs, 0.99) };
}

export async function benchDashboards(opts: {
  workDir: string;
  sizes: number[];
  plan: Plan;
  budgetMs: number;
  log: (s: string) => void;
}): Promise<DashboardResult> {
  const points: DashboardPoint[] = [];
  const plans: Record<string, string[]> = {};
  for (const n of opts.sizes) {
    const { path, generatedMs } = await dashboardFile(opts.workDir, n, opts.log);
    const db = await RFDatabase.open({ url: `file:${path}` });
    const raw = new Database(path, { readonly: true });
    try {
      const eid = (await db.experiments.getCurrent())!.experimentId;
      const calls: DashboardPoint["calls"] = {};
      const max = 2000;
      calls["actorTasks.countByStatus"] = await time(opts.budgetMs, max, () => db.actorTasks.countByStatus(eid));
      calls["status summary (get + pipelines.list + countByStatus + listRunning)"] = await time(
        opts.budgetMs,
        max,
        async () => {
          await db.experiments.get(eid);
          await db.pipelines.list(eid);
          await db.actorTasks.countByStatus(eid);
          await db.actorTasks.listRunning(eid);
        },
      );
      const snapshot = (db as unknown as { snapshot?: (id: number) => Promise<unknown> }).snapshot;
      if (typeof snapshot === "function")
        calls["db.snapshot"] = await time(opts.budgetMs, max, () => snapshot.call(db, eid));
      const count = opts.plan.calls.countByStatus!.clientCalls[0]!.statements[0]!;
      const st = raw.prepare(count.sql).raw(true);
      const args = bindArgs(count.args, { eid });
      calls["countByStatus SQL on raw libsql (the engine alone)"] = await time(opts.budgetMs, max, async () =>
        st.all(args),
      );
      const byIndex = raw.prepare(COUNT_BY_INDEX).raw(true);
      calls["counting index entries instead (countByStatus before the counters, raw libsql)"] = await time(
        opts.budgetMs,
        50,
        async () => byIndex.all([eid]),
      );
      // The counters must say what counting says, at every size (they are kept by triggers, not by the package).
      const counted = (byIndex.get([eid]) as number[]).map(Number);
      const kept = await db.actorTasks.countByStatus(eid);
      const keptList = [kept.scheduled, kept.in_progress, kept.completed, kept.failed];
      if (keptList.join() !== counted.join())
        throw new Error(`task counters ${keptList.join()} differ from the tasks ${counted.join()} at ${n} tasks`);
      calls["actorTasks.listRunning"] = await time(opts.budgetMs, max, () => db.actorTasks.listRunning(eid));
      const scan = raw.prepare(MODULE_RUNNING).raw(true);
      calls["the Python module's running-task query (full scan)"] = await time(opts.budgetMs, 50, async () =>
        scan.all(["in_progress"]),
      );
      if (n === opts.sizes.at(-1))
        for (const key of ["countByStatus", "listRunning"] as const) {
          const s0 = opts.plan.calls[key]!.clientCalls[0]!.statements[0]!;
          plans[`actorTasks.${key}`] = (
            raw.prepare(`EXPLAIN QUERY PLAN ${s0.sql}`).all(bindArgs(s0.args, { eid })) as { detail: string }[]
          ).map((r) => r.detail);
          plans["the Python module's running-task query"] = (
            raw.prepare(`EXPLAIN QUERY PLAN ${MODULE_RUNNING}`).all(["in_progress"]) as { detail: string }[]
          ).map((r) => r.detail);
        }
      const sizeMiB = statSync(path).size / 2 ** 20;
      points.push({ tasks: n, sizeMiB, generatedMs, calls });
      opts.log(
        `  ${n.toLocaleString("en-US").padStart(10)} tasks: ${Object.entries(calls)
          .map(([k, v]) => `${k.split(" (")[0]} ${(v.p50 * 1000).toFixed(0)} µs`)
          .join(", ")}`,
      );
    } finally {
      raw.close();
      await db.close();
    }
  }
  const slopeNsPerTask: Record<string, number> = {};
  const a = points[0];
  const b = points.at(-1);
  if (a && b && b.tasks > a.tasks)
    for (const k of Object.keys(b.calls))
      if (a.calls[k]) slopeNsPerTask[k] = ((b.calls[k]!.p50 - a.calls[k]!.p50) * 1e6) / (b.tasks - a.tasks);
  return { points, slopeNsPerTask, plans };
}
