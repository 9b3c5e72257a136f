/**
 * Dashboard reads at scale: 1,000,000 actor tasks and 10,000 pipelines over
 * 100 experiments (100 pipelines × 100 shards each), generated with raw SQL
 * (recursive CTEs) in one transaction and cached under bench/.work/ (keyed by
 * the schema's migrations and the generator's version, so a schema change
 * regenerates it). Experiments 1–90 are finished (all tasks completed, 1 %
 * failed); 91–100 are running (shards 0–59 completed, 8 tasks in progress,
 * the rest scheduled).
 *
 * Measured through the package on the file: listRunning, pipelines.list,
 * get (task and pipeline), countByStatus, and the CLI's status summary
 * (countByStatus + pipelines.list + listRunning) — p50/p99 over many calls
 * — plus, for contrast, the running-task query forced to a full table scan
 * (`NOT INDEXED`), which is what the Python module's query does.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "libsql";
import { MIGRATIONS, RFDatabase } from "../../src/index";
import { captureStatements } from "../lib/capture";
import { quantile } from "../lib/stats";

export const SCALE = {
  experiments: 100,
  pipelinesPerExperiment: 100,
  shardsPerPipeline: 100,
  runningFrom: 91,
  inProgressPerExperiment: 8,
};
const GENERATOR_VERSION = 1;

const GENERATE = (s: typeof SCALE) => {
  const pipelines = s.experiments * s.pipelinesPerExperiment;
  const tasks = pipelines * s.shardsPerPipeline;
  const tasksPerExp = s.pipelinesPerExperiment * s.shardsPerPipeline;
  // A running experiment's shard-60 task of every (100/8)th pipeline is in progress.
  const every = Math.floor(s.pipelinesPerExperiment / s.inProgressPerExperiment);
  const t0 = 1_700_000_000_000;
  return [
    `WITH RECURSIVE e(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM e WHERE i < ${s.experiments})
     INSERT INTO experiments (experiment_id, experiment_name, num_actors, num_shards, status, created_at)
     SELECT i, 'scale-' || (i % 20), 4, ${s.shardsPerPipeline}, CASE WHEN i >= ${s.runningFrom} THEN 'running' ELSE 'completed' END, ${t0} + i * 3600000 FROM e`,
    `WITH RECURSIVE p(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM p WHERE i < ${pipelines - 1})
     INSERT INTO pipelines (pipeline_id, experiment_id, pipeline_name, pipeline_type, model_config, sampling_params, status,
                            current_shard_id, shards_completed, total_samples_processed, created_at)
     SELECT i + 1, i / ${s.pipelinesPerExperiment} + 1, 'pipeline-' || (i % ${s.pipelinesPerExperiment}), 'vllm',
            '{"model":"llama-3-8b-instruct","dtype":"bfloat16","max_model_len":8192}', '{"temperature":0.7,"top_p":0.9,"max_tokens":512}',
            CASE WHEN i / ${s.pipelinesPerExperiment} + 1 >= ${s.runningFrom} THEN 'ongoing' ELSE 'completed' END,
            CASE WHEN i / ${s.pipelinesPerExperiment} + 1 >= ${s.runningFrom} THEN 60 ELSE ${s.shardsPerPipeline - 1} END,
            CASE WHEN i / ${s.pipelinesPerExperiment} + 1 >= ${s.runningFrom} THEN 60 ELSE ${s.shardsPerPipeline} END,
            CASE WHEN i / ${s.pipelinesPerExperiment} + 1 >= ${s.runningFrom} THEN 60 * 128 ELSE ${s.shardsPerPipeline} * 128 END,
            ${t0} + i * 1000 FROM p`,
    `WITH RECURSIVE t(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM t WHERE i < ${tasks - 1}),
     x AS (SELECT i, i / ${tasksPerExp} + 1 AS exp, i / ${s.shardsPerPipeline} + 1 AS pl, i % ${s.shardsPerPipeline} AS shard FROM t),
     y AS (SELECT *, CASE
             WHEN exp < ${s.runningFrom} THEN (CASE WHEN i % 100 = 37 THEN 'failed' ELSE 'completed' END)
             WHEN shard < 60 THEN 'completed'
             WHEN shard = 60 AND (pl - 1) % ${s.pipelinesPerExperiment} % ${every} = 0 AND (pl - 1) % ${s.pipelinesPerExperiment} / ${every} < ${s.inProgressPerExperiment} THEN 'in_progress'
             ELSE 'scheduled' END AS st FROM x)
     INSERT INTO actor_tasks (task_id, experiment_id, pipeline_id, actor_id, shard_id, status, error_message, started_at, completed_at, duration_seconds, created_at)
     SELECT i + 1, exp, pl, pl % 4, shard, st,
            CASE WHEN st = 'failed' THEN 'CUDA out of memory' END,
            CASE WHEN st IN ('completed', 'failed', 'in_progress') THEN ${t0} + i * 100 END,
            CASE WHEN st IN ('completed', 'failed') THEN ${t0} + i * 100 + 2500 END,
            CASE WHEN st IN ('completed', 'failed') THEN 2.5 END,
            ${t0} + i * 100
     FROM y`,
  ];
};

export interface ScaleQuery {
  name: string;
  n: number;
  p50: number;
  p99: number;
  rows: number;
}

export interface ScaleResult {
  file: string;
  generatedNow: boolean;
  generateMs: number | null;
  sizeMiB: number;
  counts: { experiments: number; pipelines: number; actorTasks: number };
  queries: ScaleQuery[];
  plans: Record<string, string[]>;
}

function cacheKey(): string {
  const h = createHash("sha256");
  h.update(String(GENERATOR_VERSION));
  h.update(JSON.stringify(SCALE));
  for (const m of MIGRATIONS) h.update(m.hash);
  return h.digest("hex").slice(0, 12);
}

/** The cached 1M-task file, generated if missing. */
export async function scaleFile(
  workDir: string,
  log: (s: string) => void,
): Promise<{ path: string; generatedNow: boolean; generateMs: number | null }> {
  mkdirSync(workDir, { recursive: true });
  const path = join(workDir, `scale-${cacheKey()}.db`);
  if (existsSync(path)) return { path, generatedNow: false, generateMs: null };
  const tmp = `${path}.tmp`;
  for (const sfx of ["", "-wal", "-shm"]) rmSync(tmp + sfx, { force: true });
  log(`  generating ${SCALE.experiments * SCALE.pipelinesPerExperiment * SCALE.shardsPerPipeline} tasks into ${tmp} …`);
  // Schema through the package's own migrations.
  const db = await RFDatabase.open({ url: `file:${tmp}` });
  await db.close();
  const t0 = performance.now();
  const raw = new Database(tmp);
  raw.exec("PRAGMA synchronous = OFF");
  raw.exec("PRAGMA foreign_keys = OFF"); // consistent by construction
  raw.exec("PRAGMA cache_size = -262144");
  raw.exec("BEGIN IMMEDIATE");
  for (const stmt of GENERATE(SCALE)) raw.exec(stmt);
  raw.exec("COMMIT");
  raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  raw.close();
  const generateMs = performance.now() - t0;
  renameSync(tmp, path);
  for (const sfx of ["-wal", "-shm"]) rmSync(tmp + sfx, { force: true });
  log(`  generated in ${(generateMs / 1000).toFixed(1)} s`);
  return { path, generatedNow: true, generateMs };
}

async function timeCalls(name: string, n: number, fn: (i: number) => Promise<unknown>): Promise<ScaleQuery> {
  let rows = 0;
  for (let i = 0; i < Math.min(50, n); i++) await fn(i); // warm the page cache and the JIT
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await fn(i);
    xs.push(performance.now() - t0);
    rows = Array.isArray(r) ? r.length : r && typeof r === "object" ? Object.keys(r).length : 0;
  }
  return { name, n, p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), rows };
}

export async function benchScale(opts: { workDir: string; n: number; log: (s: string) => void }): Promise<ScaleResult> {
  const { path, generatedNow, generateMs } = await scaleFile(opts.workDir, opts.log);
  const db = await RFDatabase.open({ url: `file:${path}` });
  const raw = new Database(path, { readonly: true });
  try {
    const count = (t: string) => (raw.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    const counts = {
      experiments: count("experiments"),
      pipelines: count("pipelines"),
      actorTasks: count("actor_tasks"),
    };
    const running = (i: number) => SCALE.runningFrom + (i % (SCALE.experiments - SCALE.runningFrom + 1));
    const any = (i: number) => 1 + ((i * 37) % SCALE.experiments);
    const rnd = (i: number, max: number) => 1 + ((i * 2654435761) % max);
    const n = opts.n;
    const queries: ScaleQuery[] = [];
    queries.push(
      await timeCalls("actorTasks.listRunning(running experiment)", n, (i) => db.actorTasks.listRunning(running(i))),
    );
    queries.push(await timeCalls("pipelines.list(experiment)", n, (i) => db.pipelines.list(any(i))));
    queries.push(await timeCalls("actorTasks.get(id)", n, (i) => db.actorTasks.get(rnd(i, counts.actorTasks))));
    queries.push(await timeCalls("pipelines.get(id)", n, (i) => db.pipelines.get(rnd(i, counts.pipelines))));
    queries.push(await timeCalls("experiments.get(id)", n, (i) => db.experiments.get(any(i))));
    queries.push(
      await timeCalls("actorTasks.countByStatus(experiment)", n, (i) => db.actorTasks.countByStatus(any(i))),
    );
    queries.push(
      await timeCalls("status summary (countByStatus + pipelines.list + listRunning)", n, async (i) => {
        const e = running(i);
        const [counts, pls, run] = [
          await db.actorTasks.countByStatus(e),
          await db.pipelines.list(e),
          await db.actorTasks.listRunning(e),
        ];
        return [counts, ...pls, ...run];
      }),
    );
    queries.push(await timeCalls("experiments.getCurrent()", n, () => db.experiments.getCurrent()));
    // The Python module's running-task query: a full scan of the table.
    const scan = raw.prepare(
      "SELECT * FROM actor_tasks NOT INDEXED WHERE experiment_id = ? AND status = 'in_progress' ORDER BY task_id",
    );
    queries.push(
      await timeCalls("full-scan equivalent of listRunning (NOT INDEXED)", Math.max(5, Math.floor(n / 50)), async (i) =>
        scan.all([running(i)]),
      ),
    );

    // The package's own SQL for each dashboard call, explained on the plain connection.
    const plans: Record<string, string[]> = {};
    const explain = async (name: string, fn: () => Promise<unknown>) => {
      const cap = await captureStatements(db.client, fn);
      plans[name] = cap.statements.flatMap((st) =>
        (
          raw
            .prepare(`EXPLAIN QUERY PLAN ${st.sql}`)
            .all(st.args.map((a) => (a instanceof Date ? a.getTime() : a))) as { detail: string }[]
        ).map((r) => r.detail),
      );
    };
    await explain("actorTasks.listRunning", () => db.actorTasks.listRunning(100));
    await explain("pipelines.list", () => db.pipelines.list(100));
    await explain("actorTasks.countByStatus", () => db.actorTasks.countByStatus(100));
    await explain("actorTasks.get", () => db.actorTasks.get(1));
    plans["full scan (Python module's query, NOT INDEXED)"] = (
      raw
        .prepare(
          "EXPLAIN QUERY PLAN SELECT * FROM actor_tasks NOT INDEXED WHERE experiment_id = ? AND status = 'in_progress' ORDER BY task_id",
        )
        .all([100]) as { detail: string }[]
    ).map((r) => r.detail);
    let sizeMiB = 0;
    try {
      const { statSync } = await import("node:fs");
      sizeMiB = statSync(path).size / 2 ** 20;
    } catch {
      /* ignore */
    }
    return { file: path, generatedNow, generateMs, sizeMiB, counts, queries, plans };
  } finally {
    raw.close();
    await db.close();
  }
}
