/**
 * Scenario 1 — many actor processes write one database at once.
 *
 * N worker processes (small 4, heavy 8) each run L task lifecycles (small 40,
 * heavy 300): create → start → advanceProgress(pipeline, { samples }) →
 * complete, on the same 3 pipelines, all released by one go file. Then: no
 * worker saw an error, every task is `completed`, and each pipeline's
 * shardsCompleted / totalSamplesProcessed equal the exact sums the workers
 * reported. Once on a temp file, once through one sqld server.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RFDatabase } from "../../src/index";
import { startSqld, type SqldServer } from "../support/sqld";
import { readsBesideTransaction } from "./read-sampler";
import { cleanupAll, countRows, HEAVY, releaseBarrier, report, resultOf, size, startWorker, tempDir } from "./support";

// RF_MW_WORKERS / RF_MW_LIFECYCLES override the sizes (for exploring a backend's limits).
const WORKERS = Number(process.env.RF_MW_WORKERS ?? size(4, 8));
const LIFECYCLES = Number(process.env.RF_MW_LIFECYCLES ?? size(40, 300));
const PIPELINES = 3;

const servers: SqldServer[] = [];
afterAll(async () => {
  await cleanupAll();
  for (const s of servers) await s.stop();
});

async function runLoad(backend: "file" | "sqld", url: string): Promise<void> {
  const wall0 = performance.now();
  // Migrate once, before any worker starts (what a deploy / the scheduler does).
  const db = await RFDatabase.open({ url, migrate: true });
  try {
    const experimentId = await db.experiments.create({ experimentName: `multi-writer-${backend}`, numActors: WORKERS });
    const pipelineIds: number[] = [];
    for (let p = 0; p < PIPELINES; p++) {
      pipelineIds.push(
        await db.pipelines.create({
          experimentId,
          pipelineName: `p${p}`,
          pipelineType: "vllm",
          modelConfig: { model: "m" },
          samplingParams: { temperature: 0.1 * p },
        }),
      );
    }
    const goFile = join(tempDir(), "go");
    const workers = Array.from({ length: WORKERS }, (_, actorId) =>
      startWorker("lifecycle", {
        url,
        experimentId,
        pipelineIds,
        lifecycles: LIFECYCLES,
        actorId,
        seed: 1000 + actorId,
        goFile,
      }),
    );
    await Promise.all(workers.map((w) => w.waitFor((m) => m.type === "ready", 60_000)));
    const t0 = performance.now();
    releaseBarrier(goFile);
    const pending = Promise.all(workers.map((w) => resultOf(w, size(60_000, 600_000))));
    // Meanwhile this process holds a 500 ms write transaction, and reads from outside it (file only).
    const beside = backend === "file" ? await readsBesideOwnTransaction(db, experimentId, workers.length) : undefined;
    const results = await pending;
    const loadMs = performance.now() - t0;
    const exits = await Promise.all(workers.map((w) => w.exited));

    const errors = results.flatMap((r) => r.errors as unknown[]);
    const expected = new Map<number, { shards: number; samples: number }>();
    for (const r of results) {
      for (const [pid, v] of Object.entries(r.perPipeline as Record<string, { shards: number; samples: number }>)) {
        const e = expected.get(Number(pid)) ?? { shards: 0, samples: 0 };
        e.shards += v.shards;
        e.samples += v.samples;
        expected.set(Number(pid), e);
      }
    }
    const counts = await db.actorTasks.countByStatus(experimentId);
    const pipelines = await db.pipelines.list(experimentId);
    const reportedCompleted = results.flatMap((r) => r.completedTaskIds as number[]);
    // Every completion a worker saw acknowledged must be in the database.
    const stored = new Set(
      (
        await db.client.execute(
          `SELECT task_id FROM actor_tasks WHERE experiment_id = ${experimentId} AND status = 'completed'`,
        )
      ).rows.map((r) => Number(r[0])),
    );
    const ackedButLost = reportedCompleted.filter((id) => !stored.has(id)).length;
    const notCompleted = await countRows(
      db.client,
      "actor_tasks",
      `experiment_id = ${experimentId} AND status <> 'completed'`,
    );
    let countMismatches = 0;
    for (const p of pipelines) {
      const e = expected.get(p.pipelineId) ?? { shards: 0, samples: 0 };
      if (p.shardsCompleted !== e.shards || p.totalSamplesProcessed !== e.samples) countMismatches++;
    }
    const writes = WORKERS * LIFECYCLES * 4;
    report("multi-writer", {
      backend,
      workers: WORKERS,
      lifecyclesPerWorker: LIFECYCLES,
      pipelines: PIPELINES,
      writes,
      loadMs: Math.round(loadMs),
      writesPerSec: Math.round(writes / (loadMs / 1000)),
      slowestCallMs: Math.max(...results.map((r) => r.slowestCallMs as number)),
      errors: errors.length,
      untypedErrors: errors.filter((e) => !(e as { classes: string[] }).classes.includes("RFDatabaseError")).length,
      tasksCompleted: counts.completed,
      tasksNotCompleted: notCompleted,
      counterMismatches: countMismatches,
      ackedButLost,
      wallMs: Math.round(performance.now() - wall0),
    });
    if (beside) report("multi-writer-reads-beside", beside.report);

    expect(ackedButLost, "acknowledged completions missing from the database").toBe(0);
    if (beside) expect(beside.wrong).toEqual([]);
    expect(
      errors.length,
      `${errors.length} errors reported by workers, e.g. ${JSON.stringify(errors.slice(0, 3))}`,
    ).toBe(0);
    expect(exits.map((e) => e.code)).toEqual(workers.map(() => 0));
    expect(counts).toEqual({ scheduled: 0, in_progress: 0, completed: WORKERS * LIFECYCLES, failed: 0 });
    expect(reportedCompleted).toHaveLength(WORKERS * LIFECYCLES);
    expect(new Set(reportedCompleted).size).toBe(WORKERS * LIFECYCLES);
    expect(notCompleted).toBe(0);
    for (const p of pipelines) {
      const e = expected.get(p.pipelineId) ?? { shards: 0, samples: 0 };
      expect({ pipeline: p.pipelineId, shards: p.shardsCompleted, samples: p.totalSamplesProcessed }).toEqual({
        pipeline: p.pipelineId,
        shards: e.shards,
        samples: e.samples,
      });
    }
    expect(pipelines.reduce((s, p) => s + p.shardsCompleted, 0)).toBe(WORKERS * LIFECYCLES);
  } finally {
    await db.close();
  }
}

/**
 * A 500 ms write transaction of this process while the workers write; reads
 * through `db` meanwhile must complete before its commit and see the
 * state before it (the read connection), whatever the other processes do.
 */
async function readsBesideOwnTransaction(db: RFDatabase, experimentId: number, workers: number) {
  const { reads, issued, commitAt } = await readsBesideTransaction(db, experimentId, {
    holdMs: 500,
    waitForReadsMs: 10_000,
    inTx: (tx) => tx.experiments.setNumShards(experimentId, 77),
  });
  const wrong = reads.samples
    .filter((s) => s.doneAt >= commitAt || s.saw !== (s.what === "experiments.get" ? 0 : PIPELINES))
    .slice(0, 3)
    .map((s) => ({ ...s, saw: String(s.saw) }));
  return {
    wrong,
    report: {
      workers,
      holdMs: 500,
      readsIssued: issued,
      completedBeforeCommit: reads.samples.filter((s) => s.doneAt < commitAt).length,
      ...reads.latencies(),
    },
  };
}

describe(`multi-writer: ${WORKERS} processes × ${LIFECYCLES} lifecycles${HEAVY ? " (heavy)" : ""}`, () => {
  it(
    "on one temp file: no errors, every task completed, exact counter sums",
    async () => {
      const url = `file:${join(tempDir(), "multi.db")}`;
      await runLoad("file", url);
    },
    size(90_000, 900_000),
  );

  it(
    "through one sqld server: no errors, every task completed, exact counter sums",
    async () => {
      const server = await startSqld();
      servers.push(server);
      await runLoad("sqld", server.url);
    },
    size(90_000, 900_000),
  );
});
