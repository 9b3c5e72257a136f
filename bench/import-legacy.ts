/**
 * `npm run bench:import` — how long `importLegacy` takes on a large database
 * written in the Python module's layout, with the progress bar drawn.
 *
 *   npx tsx bench/import-legacy.ts [--tasks=100000] [--targets=file,memory,sqld] [--no-bar]
 *
 * Generates a 6158eec-layout database (the module's own tables.sql, read from
 * ../shared/anchors at run time) with `--tasks` actor tasks spread over 10
 * experiments × 10 pipelines, plus contexts and IC operations, then imports it
 * into a fresh database per target, timing the read and write phases. Prints a
 * Markdown table and one JSON line; nothing is asserted (BENCHMARKS.md
 * records a run). The source's sha256 is checked unchanged after each import.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "libsql";
import { importProgressBar } from "../src/cli/import-progress";
import { importLegacy, RFDatabase } from "../src/index";
import { startSqld } from "../tests/support/sqld";
import { anchorTablesSql, SHARED_DIR } from "../tests/support/shared";

const argv = process.argv.slice(2);
const opt = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const TASKS = Number(opt("tasks") ?? 100_000);
const TARGETS = (opt("targets") ?? "file,memory,sqld").split(",");
const BAR = !argv.includes("--no-bar");
const WORK = fileURLToPath(new URL(".work/", import.meta.url));

function generate(path: string): number {
  const t0 = performance.now();
  rmSync(path, { force: true });
  const db = new Database(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(anchorTablesSql("6158eec"));
  db.exec("BEGIN");
  const exp = db.prepare(
    "INSERT INTO experiments (experiment_name, num_actors, num_shards, num_cpus, num_gpus, mlflow_experiment_id, status, error, created_at) VALUES (?, 8, ?, 32, 8, ?, ?, '', ?)",
  );
  const ctx = db.prepare(
    "INSERT INTO contexts (context_hash, rag_config_json, prompt_config_json, status, error) VALUES (?, ?, '{\"template\": \"Q: {q}\"}', 'ongoing', '')",
  );
  const pl = db.prepare(
    "INSERT INTO pipelines (context_id, pipeline_name, pipeline_type, model_config_json, sampling_params_json, status, current_shard_id, shards_completed, total_samples_processed, error, created_at) VALUES (?, ?, 'vllm', ?, ?, ?, ?, ?, ?, '', ?)",
  );
  const task = db.prepare(
    "INSERT INTO actor_tasks (pipeline_id, actor_id, shard_id, status, error_message, started_at, completed_at, duration_seconds) VALUES (?, ?, ?, ?, '', ?, ?, ?)",
  );
  const ic = db.prepare(
    "INSERT INTO interactive_control (pipeline_id, operation, status, request_data, error, created_at, processed_at) VALUES (?, 'stop', 'completed', NULL, '', ?, ?)",
  );
  const perPipeline = Math.ceil(TASKS / 100);
  const base = Date.UTC(2025, 5, 1, 9);
  const sql = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace("T", " ");
  const iso = (ms: number) => new Date(ms).toISOString().slice(0, 23);
  let made = 0;
  for (let e = 0; e < 10; e++) {
    const at = base + e * 3_600_000;
    exp.run(`exp-${e}`, perPipeline, String(1000 + e), e === 9 ? "running" : "completed", sql(at));
    ctx.run(`ctx-${e}`, JSON.stringify({ k: e + 1, chunk: 512 }));
    for (let p = 0; p < 10; p++) {
      const pipelineId = e * 10 + p + 1;
      const n = Math.min(perPipeline, TASKS - made);
      pl.run(
        e + 1,
        `p${e}.${p}`,
        JSON.stringify({ model: "meta-llama/Llama-3.1-8B", max_model_len: 4096 }),
        JSON.stringify({ temperature: p / 10 }),
        e === 9 ? "ongoing" : "completed",
        n,
        n,
        n * 256,
        sql(at + 1000 + p),
      );
      for (let s = 0; s < n; s++, made++) {
        const start = at + 2000 + s * 1000;
        task.run(pipelineId, s % 8, s, "completed", iso(start), iso(start + 950), 0.95);
      }
      ic.run(pipelineId, (at + 5000) / 1000, (at + 5100) / 1000);
    }
  }
  db.exec("COMMIT");
  db.close();
  return performance.now() - t0;
}

async function main(): Promise<void> {
  if (!SHARED_DIR) throw new Error("needs ../shared/anchors beside the clone (or RF_SHARED_DIR)");
  mkdirSync(WORK, { recursive: true });
  const source = join(WORK, `legacy-${TASKS}.db`);
  const genMs = generate(source);
  const hash = () => createHash("sha256").update(readFileSync(source)).digest("hex");
  const before = hash();
  console.error(`generated ${TASKS} tasks in ${genMs.toFixed(0)} ms: ${source}`);
  const rows: Record<string, unknown>[] = [];
  for (const target of TARGETS) {
    const server = target === "sqld" ? await startSqld() : undefined;
    const file = join(WORK, "import-target.db");
    for (const s of ["", "-wal", "-shm"]) rmSync(file + s, { force: true });
    const url = target === "file" ? `file:${file}` : target === "memory" ? ":memory:" : server!.url;
    const db = await RFDatabase.open({ url, migrate: true });
    const bar = importProgressBar({ enabled: BAR, force: true });
    const marks: Record<string, number> = {};
    const t0 = performance.now();
    try {
      const result = await importLegacy(source, db, {
        onProgress: (p) => {
          marks[p.phase] ??= performance.now();
          bar.update(p);
        },
      });
      const ms = performance.now() - t0;
      bar.stop();
      const readMs = (marks.write ?? performance.now()) - t0;
      rows.push({
        target,
        tasks: result.actorTasks,
        ms: Math.round(ms),
        readMs: Math.round(readMs),
        writeMs: Math.round(ms - readMs),
        tasksPerSec: Math.round(result.actorTasks / (ms / 1000)),
        unchanged: hash() === before,
      });
    } finally {
      bar.stop();
      await db.close();
      await server?.stop();
    }
  }
  console.log("| target | tasks | total | read + convert | write | tasks/s | source unchanged |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
  for (const r of rows) {
    console.log(
      `| ${r.target} | ${r.tasks} | ${r.ms} ms | ${r.readMs} ms | ${r.writeMs} ms | ${r.tasksPerSec} | ${r.unchanged ? "yes" : "NO"} |`,
    );
  }
  console.log(JSON.stringify({ tasks: TASKS, generateMs: Math.round(genMs), results: rows }));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
