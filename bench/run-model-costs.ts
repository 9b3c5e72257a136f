/**
 * What the run model's covering index costs and buys (BENCHMARKS.md, "Run model"):
 *
 * - cost, on the hot path: `pipelines.advanceProgress` and
 *   `actorTasks.completeWithProgress` write columns that `pipelines_summary_idx`
 *   holds, so each progress update also rewrites the pipeline's entry there;
 *   measured on two WAL files, one with the index and one without (dropped),
 *   the same calls interleaved round by round;
 * - gain, on the dashboard's poll: `pipelines.listSummaries` (the index
 *   alone) against `pipelines.list` (every column: the JSON configs and the
 *   opaque payload) for one experiment of a database with many pipelines;
 * - the same cost without the noise of a shared machine: WAL pages written
 *   per `advanceProgress` (each commit appends the pages it changed);
 * - `icOperations.apply` of a stop, and of a clone, per call.
 *
 *   npx tsx bench/run-model-costs.ts [--rounds=7] [--ms=400] [--pipelines=100] [--experiments=50]
 *
 * Medians over interleaved rounds (the machine is shared: compare ratios).
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RFDatabase } from "../src/index";

const arg = (name: string, dflt: number) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split("=")[1]) : dflt;
};
const ROUNDS = arg("rounds", 7);
const MS = arg("ms", 400);
const PIPELINES = arg("pipelines", 100);
const EXPERIMENTS = arg("experiments", 50);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const dir = mkdtempSync(join(tmpdir(), "run-model-costs-"));

/** A realistic pipeline: a few KB of JSON config and a 20 KB opaque payload. */
const configJson = (i: number) => ({
  pipeline_type: "vllm",
  batch_size: 8 + (i % 4) * 8,
  model_config: { model: "Qwen/Qwen2.5-3B-Instruct", dtype: "half", max_model_len: 4096, gpu_memory_utilization: 0.9 },
  sampling_params: { temperature: (i % 10) / 10, top_p: 0.95, max_tokens: 512, stop: ["\n\n", "###"] },
  rag_config: { search_cfg: { type: "mmr", k: 5 + (i % 5), fetch_k: 20, lambda_mult: 0.5 }, notes: "x".repeat(1500) },
});
const payload = "gASV".repeat(5_000);

async function populate(name: string) {
  const db = await RFDatabase.open({ url: `file:${join(dir, `${name}.db`)}` });
  const experiments: number[] = [];
  const pipelines: number[] = [];
  await db.transaction(async (tx) => {
    for (let e = 0; e < EXPERIMENTS; e++) {
      const experimentId = await tx.experiments.create({ experimentName: `e${e}`, numActors: 4, numShards: 64 });
      experiments.push(experimentId);
      for (let p = 0; p < PIPELINES; p++)
        pipelines.push(
          await tx.pipelines.create({
            experimentId,
            pipelineType: "vllm",
            pipelineName: `p${p}`,
            pipelineConfig: payload,
            configJson: configJson(p),
            metricRunId: `run-${e}-${p}`,
            status: "ongoing",
          }),
        );
    }
  });
  await db.client.execute("ANALYZE");
  return { db, experiments, pipelines };
}

/** Calls of `fn` per second during `ms` (sequential awaits, as one actor does). */
async function rate(ms: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) await fn(n++);
  return n / ((performance.now() - t0) / 1000);
}

async function main() {
  const withIdx = await populate("with-index");
  const without = await populate("without-index");
  await without.db.client.execute("drop index pipelines_summary_idx");
  const last = withIdx.experiments.at(-1)!;
  const hot = (s: typeof withIdx) => s.pipelines.slice(-PIPELINES); // the running experiment's pipelines

  const results: Record<string, { with: number[]; without: number[] }> = {
    "advanceProgress (calls/s)": { with: [], without: [] },
    "create + completeWithProgress (tasks/s)": { with: [], without: [] },
  };
  for (let r = 0; r < ROUNDS; r++) {
    const order = [
      ["with", withIdx],
      ["without", without],
    ] as const;
    // Alternate who goes first: a WAL checkpoint or a load spike should not always fall on one side.
    for (const [label, s] of r % 2 ? [...order].reverse() : order) {
      const ps = hot(s);
      results["advanceProgress (calls/s)"]![label].push(
        await rate(MS, (i) =>
          s.db.pipelines.advanceProgress(ps[i % ps.length]!, { samples: 64, currentShardId: i % 64 }),
        ),
      );
      const eid = label === "with" ? last : without.experiments.at(-1)!;
      results["create + completeWithProgress (tasks/s)"]![label].push(
        await rate(MS, async (i) => {
          const pipelineId = ps[i % ps.length]!;
          const taskId = await s.db.actorTasks.create({
            experimentId: eid,
            pipelineId,
            actorId: 0,
            shardId: i % 64,
            status: "in_progress",
            startedAt: new Date(),
          });
          await s.db.actorTasks.completeWithProgress(taskId, { samples: 64, currentShardId: i % 64 });
        }),
      );
    }
  }
  console.log(`run-model costs: ${EXPERIMENTS} experiments × ${PIPELINES} pipelines, ${ROUNDS} rounds of ${MS} ms`);
  for (const [name, v] of Object.entries(results)) {
    const w = median(v.with);
    const wo = median(v.without);
    // The ratio of each round (both sides ran back to back), then their median and range.
    const ratios = v.with.map((x, i) => x / v.without[i]!).sort((a, b) => a - b);
    console.log(
      `  ${name.padEnd(42)} with index ${w.toFixed(0).padStart(7)}  without ${wo.toFixed(0).padStart(7)}  ` +
        `per-round ratio median ${median(ratios).toFixed(3)} (range ${ratios[0]!.toFixed(2)}–${ratios.at(-1)!.toFixed(2)})`,
    );
  }

  // Pages written per progress update: the WAL grows by (page + 24-byte header) per page a commit changed.
  const N = 500;
  for (const [label, s] of [
    ["with index", withIdx],
    ["without", without],
  ] as const) {
    const file = join(dir, `${label === "with index" ? "with-index" : "without-index"}.db-wal`);
    await s.db.client.execute("pragma wal_autocheckpoint = 0");
    await s.db.client.execute("pragma wal_checkpoint(truncate)");
    const before = statSync(file).size;
    const ps = hot(s);
    for (let i = 0; i < N; i++)
      await s.db.pipelines.advanceProgress(ps[i % ps.length]!, { samples: 64, currentShardId: i % 64 });
    const pages = (statSync(file).size - before) / (4096 + 24) / N;
    console.log(`  WAL pages per advanceProgress, ${label.padEnd(10)} ${pages.toFixed(2)}`);
    await s.db.client.execute("pragma wal_autocheckpoint = 1000");
  }

  // The poll: one experiment's pipelines, summaries vs full rows (with the index).
  const poll = { list: [] as number[], listSummaries: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    poll.list.push(1e6 / (await rate(MS / 2, () => withIdx.db.pipelines.list(last))));
    poll.listSummaries.push(1e6 / (await rate(MS / 2, () => withIdx.db.pipelines.listSummaries(last))));
  }
  const [l, s] = [median(poll.list), median(poll.listSummaries)];
  console.log(`  list(experiment of ${PIPELINES})        ${l.toFixed(0).padStart(7)} µs per call`);
  console.log(
    `  listSummaries(same)                  ${s.toFixed(0).padStart(7)} µs per call  (${(l / s).toFixed(1)}× faster)`,
  );

  // apply: a stop and a clone, per call.
  const ps = hot(withIdx);
  const stops: number[] = [];
  const clones: number[] = [];
  for (let i = 0; i < 200; i++) {
    const pid = ps[i % ps.length]!;
    await withIdx.db.pipelines.setStatus(pid, "ongoing");
    const stop = await withIdx.db.icOperations.create({ operation: "stop", pipelineId: pid });
    let t = performance.now();
    await withIdx.db.icOperations.apply(stop);
    stops.push(performance.now() - t);
    const clone = await withIdx.db.icOperations.create({
      operation: "clone",
      parentPipelineId: pid,
      config: { sampling_params: { temperature: 0.5 } },
    });
    t = performance.now();
    await withIdx.db.icOperations.apply(clone);
    clones.push(performance.now() - t);
  }
  console.log(`  icOperations.apply(stop)             ${(median(stops) * 1000).toFixed(0).padStart(7)} µs median`);
  console.log(`  icOperations.apply(clone)            ${(median(clones) * 1000).toFixed(0).padStart(7)} µs median`);

  await withIdx.db.close();
  await without.db.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
