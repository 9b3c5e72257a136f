/**
 * Scenario 6 — crash mid-run, reset, resume.
 *
 * A scheduler (the test) sets up an experiment: pipelines `ongoing` (plus one
 * `new`, one `completed`), contexts `building`/`pending` (plus one `ready`),
 * IC operations `pending` and one `processing` (plus one `completed`), and one
 * `scheduled` task per shard. Actor processes (workers/actor.ts) claim and run
 * tasks; at a random moment all are SIGKILLed. Then:
 *  - every shard counted in a pipeline's progress is a completed task;
 *  - `resetExperimentStates()` returns counts equal to the unfinished rows
 *    counted just before, leaves none unfinished, sets an error on each,
 *    and changes no finished row;
 *  - a resumed run (contexts rebuilt `failed → building → ready`; each failed
 *    pipeline continued by a new one — `failed` is final in
 *    PIPELINE_TRANSITIONS — with a task per shard its predecessors did not
 *    complete; new actor processes) completes every shard exactly once with
 *    exact progress counters summed over each pipeline's line; a second reset
 *    finds nothing to do.
 * Sizes: 3 actors (heavy 6), 3 pipelines (heavy 4); file: 20 shards per
 * pipeline and 2 crash rounds (heavy 100 / 6); sqld: 10 / 1 (heavy 60 / 4).
 * Each crash is followed by a reset and a resume that is crashed again; the
 * last resume runs to the end.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Client } from "@libsql/client";
import { afterAll, describe, expect, it } from "vitest";
import { RFDatabase } from "../../src/index";
import { startSqld, type SqldServer } from "../support/sqld";
import {
  cleanupAll,
  countRows,
  prng,
  report,
  resultOf,
  size,
  sleep,
  startWorker,
  tempDir,
  type Worker,
} from "./support";

const ACTORS = size(3, 6);
const PIPELINES = size(3, 4);
const WORK_MS: [number, number] = [10, 40];
/** Shards per pipeline and crash rounds; sqld (an HTTP round trip per statement) runs a smaller small version. */
const SIZES = {
  file: { shards: size(20, 100), crashes: size(2, 6) },
  sqld: { shards: size(10, 60), crashes: size(1, 4) },
};

const samplesOf = (shardId: number) => 100 + shardId;

const servers: SqldServer[] = [];
afterAll(async () => {
  await cleanupAll();
  for (const s of servers) await s.stop();
});

const UNFINISHED = {
  actor_tasks: "status IN ('scheduled', 'in_progress')",
  pipelines: "status IN ('new', 'ongoing')",
  contexts: "status IN ('pending', 'building')",
  interactive_control: "status IN ('pending', 'processing')",
} as const;

async function rows(client: Client, sql: string): Promise<Record<string, unknown>[]> {
  const rs = await client.execute(sql);
  return rs.rows.map((r) => Object.fromEntries(rs.columns.map((c, i) => [c, r[i]])));
}

async function runActors(url: string, experimentId: number, dir: string, tag: string, killAfterMs: number | null) {
  const workers: Worker[] = Array.from({ length: ACTORS }, (_, actorId) =>
    startWorker("actor", {
      url,
      experimentId,
      actorId,
      ackFile: join(dir, `acks-${tag}-${actorId}.jsonl`),
      workMs: WORK_MS,
    }),
  );
  await Promise.all(workers.map((w) => w.waitFor((m) => m.type === "ready", 60_000)));
  if (killAfterMs === null) {
    await Promise.all(workers.map((w) => resultOf(w, 120_000)));
    return { killed: 0, finishedBeforeKill: ACTORS };
  }
  await sleep(killAfterMs);
  let finishedBeforeKill = 0;
  for (const w of workers) {
    if (w.exitInfo()) finishedBeforeKill++;
    w.kill("SIGKILL");
  }
  await Promise.all(workers.map((w) => w.exited));
  const died = workers.filter((w) => w.messages.some((m) => m.type === "fatal"));
  expect(
    died.map((w) => w.messages.find((m) => m.type === "fatal")),
    "actors that failed on their own",
  ).toEqual([]);
  return { killed: ACTORS - finishedBeforeKill, finishedBeforeKill };
}

function ackedCompletions(dir: string, tag: string): number[] {
  const ids: number[] = [];
  for (let a = 0; a < ACTORS; a++) {
    let text = "";
    try {
      text = readFileSync(join(dir, `acks-${tag}-${a}.jsonl`), "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      if (!line) continue;
      try {
        const l = JSON.parse(line) as { op: string; taskId: number };
        if (l.op === "completed") ids.push(l.taskId);
      } catch {
        // a line cut by the kill
      }
    }
  }
  return ids;
}

async function scenario(backend: "file" | "sqld", url: string) {
  const SHARDS = SIZES[backend].shards;
  const CRASHES = SIZES[backend].crashes;
  const seed = Number(process.env.RF_SEED ?? Date.now() % 1_000_000);
  const rand = prng(seed);
  const dir = tempDir();
  const db = await RFDatabase.open({ url, migrate: true });
  try {
    const experimentId = await db.experiments.create({
      experimentName: `crash-${backend}`,
      numActors: ACTORS,
      numShards: SHARDS,
    });
    const contextIds: number[] = [];
    let pipelineIds: number[] = [];
    /** Each pipeline and the ones that continued it after a reset, oldest first. */
    const lines: number[][] = [];
    for (let p = 0; p < PIPELINES; p++) {
      const ctx = await db.contexts.create({ contextHash: `ctx-${backend}-${p}`, ragConfig: { k: p } });
      await db.contexts.setStatus(ctx, p % 2 ? "pending" : "building");
      await db.contexts.setStartTime(ctx, new Date());
      contextIds.push(ctx);
      const pid = await db.pipelines.create({
        experimentId,
        pipelineName: `p${p}`,
        pipelineType: "vllm",
        modelConfig: { p },
        samplingParams: { t: 0.5 },
        contextId: ctx,
        status: "ongoing",
      });
      pipelineIds.push(pid);
      lines.push([pid]);
      await db.icOperations.create({ operation: "stop", pipelineId: pid, requestData: { reason: "user" } });
    }
    // Rows that are finished (or not ours to reset) and must come through untouched.
    const readyCtx = await db.contexts.create({ contextHash: `ctx-${backend}-ready`, status: "ready" });
    const newPipeline = await db.pipelines.create({
      experimentId,
      pipelineName: "queued",
      pipelineType: "vllm",
      modelConfig: {},
      samplingParams: {},
    });
    const donePipeline = await db.pipelines.create({
      experimentId,
      pipelineName: "done",
      pipelineType: "vllm",
      modelConfig: {},
      samplingParams: {},
      status: "completed",
      contextId: readyCtx,
    });
    await db.icOperations.create({ operation: "clone", experimentId, requestData: { from: pipelineIds[0] } });
    await db.icOperations.create({ operation: "resume", pipelineId: donePipeline });
    const claimed = await db.icOperations.claimNext(); // the oldest pending one → processing (failed by a reset too)
    expect(claimed).not.toBeNull();
    const completedOp = await db.icOperations.create({ operation: "delete", pipelineId: donePipeline });
    await db.icOperations.setStatus(completedOp, "completed");

    for (const pid of pipelineIds) {
      for (let s = 0; s < SHARDS; s++)
        await db.actorTasks.create({ experimentId, pipelineId: pid, actorId: 0, shardId: s });
    }

    const resets: Record<string, unknown>[] = [];
    const runMs: number[] = [];
    let totalKills = 0;
    for (let crash = 0; crash <= CRASHES; crash++) {
      const last = crash === CRASHES;
      // Kill somewhere inside the time the remaining work should take (≈ 25 ms per task per actor).
      const remaining = await countRows(db.client, "actor_tasks", "status = 'scheduled'");
      const window = Math.max(60, (remaining * (WORK_MS[0] + WORK_MS[1])) / 2 / ACTORS);
      const killAfter = last ? null : 20 + Math.floor(rand() * window * 0.8);
      const tRun = performance.now();
      const { killed } = await runActors(url, experimentId, dir, `${crash}`, killAfter);
      runMs.push(Math.round(performance.now() - tRun));
      totalKills += killed;

      // Every acknowledged completion is there.
      const acked = ackedCompletions(dir, `${crash}`);
      const completedIds = new Set(
        (await rows(db.client, `SELECT task_id FROM actor_tasks WHERE status = 'completed'`)).map((r) =>
          Number(r.task_id),
        ),
      );
      expect(
        acked.filter((id) => !completedIds.has(id)),
        "acknowledged completions missing",
      ).toEqual([]);

      // Progress counters agree with completed tasks (advance + complete commit together).
      for (const pid of pipelineIds) {
        const pl = (await db.pipelines.get(pid))!;
        const done = await rows(
          db.client,
          `SELECT shard_id FROM actor_tasks WHERE pipeline_id = ${pid} AND status = 'completed'`,
        );
        expect([pl.shardsCompleted, pl.totalSamplesProcessed]).toEqual([
          done.length,
          done.reduce((s, r) => s + samplesOf(Number(r.shard_id)), 0),
        ]);
      }
      if (last) break;

      // What is unfinished right now — and what is finished, which must not change.
      const expectedCounts = {
        actorTasks: await countRows(db.client, "actor_tasks", UNFINISHED.actor_tasks),
        pipelines: await countRows(db.client, "pipelines", UNFINISHED.pipelines),
        contexts: await countRows(db.client, "contexts", UNFINISHED.contexts),
        icOperations: await countRows(db.client, "interactive_control", UNFINISHED.interactive_control),
      };
      const inProgress = await countRows(db.client, "actor_tasks", "status = 'in_progress'");
      const finishedBefore: Record<string, Record<string, unknown>[]> = {};
      for (const [t, where] of Object.entries(UNFINISHED)) {
        finishedBefore[t] = await rows(db.client, `SELECT * FROM ${t} WHERE NOT (${where}) ORDER BY 1`);
      }

      const counts = await db.resetExperimentStates();
      resets.push({ crash, killAfterMs: killAfter, inProgressAtKill: inProgress, ...counts });
      expect(counts).toEqual(expectedCounts);
      for (const [t, where] of Object.entries(UNFINISHED)) {
        expect(await countRows(db.client, t, where), `${t} still unfinished after reset`).toBe(0);
      }
      // Each row the reset failed carries an error; finished rows are unchanged.
      expect(await countRows(db.client, "actor_tasks", "status = 'failed' AND error_message IS NULL")).toBe(0);
      expect(await countRows(db.client, "pipelines", "status = 'failed' AND error IS NULL")).toBe(0);
      expect(await countRows(db.client, "contexts", "status = 'failed' AND error IS NULL")).toBe(0);
      expect(
        await countRows(
          db.client,
          "interactive_control",
          "status = 'failed' AND (error IS NULL OR processed_at IS NULL)",
        ),
      ).toBe(0);
      for (const [t, before] of Object.entries(finishedBefore)) {
        if (before.length === 0) continue; // e.g. no task completed yet when the kill came
        const ids = before.map((r) => Object.values(r)[0]).join(",") || "NULL";
        const pk = Object.keys(before[0] ?? { id: 0 })[0];
        const after = await rows(db.client, `SELECT * FROM ${t} WHERE ${pk} IN (${ids}) ORDER BY 1`);
        expect(after, `finished ${t} rows changed by the reset`).toEqual(before);
      }
      // The second reset has nothing left to do.
      expect(await db.resetExperimentStates()).toEqual({ actorTasks: 0, pipelines: 0, contexts: 0, icOperations: 0 });

      // Resume: rebuild the contexts (failed → building → ready); a failed pipeline stays failed
      // (PIPELINE_TRANSITIONS), so a new one continues it, with a task per shard its line has not done.
      for (const ctx of contextIds) {
        if ((await db.contexts.get(ctx))!.status === "ready") continue;
        await db.contexts.setStatus(ctx, "building");
        await db.contexts.setStatus(ctx, "ready");
      }
      const next: number[] = [];
      for (const [i, line] of lines.entries()) {
        const failed = (await db.pipelines.get(line.at(-1)!))!;
        const pid = await db.pipelines.create({
          experimentId,
          pipelineName: `${failed.pipelineName}-resumed`,
          pipelineType: failed.pipelineType,
          modelConfig: failed.modelConfig,
          samplingParams: failed.samplingParams,
          contextId: failed.contextId,
          status: "ongoing",
        });
        const done = new Set(
          (
            await rows(
              db.client,
              `SELECT shard_id FROM actor_tasks WHERE pipeline_id IN (${line.join(",")}) AND status = 'completed'`,
            )
          ).map((r) => Number(r.shard_id)),
        );
        for (let s = 0; s < SHARDS; s++) {
          if (!done.has(s)) await db.actorTasks.create({ experimentId, pipelineId: pid, actorId: 0, shardId: s });
        }
        lines[i] = [...line, pid];
        next.push(pid);
      }
      pipelineIds = next;
    }

    // The resumed run finished: every shard of each line completed exactly once, exact counters.
    for (const line of lines) {
      const perShard = await rows(
        db.client,
        `SELECT shard_id, count(*) AS n FROM actor_tasks WHERE pipeline_id IN (${line.join(",")}) AND status = 'completed' GROUP BY shard_id`,
      );
      expect(perShard.length).toBe(SHARDS);
      expect(perShard.every((r) => Number(r.n) === 1)).toBe(true);
      const pls = await Promise.all(line.map(async (pid) => (await db.pipelines.get(pid))!));
      expect(pls.reduce((sum, pl) => sum + pl.shardsCompleted, 0)).toBe(SHARDS);
      const expectedSamples = Array.from({ length: SHARDS }, (_, s) => samplesOf(s)).reduce((a, b) => a + b, 0);
      expect(pls.reduce((sum, pl) => sum + pl.totalSamplesProcessed, 0)).toBe(expectedSamples);
      await db.pipelines.complete(line.at(-1)!);
    }
    expect(await countRows(db.client, "actor_tasks", UNFINISHED.actor_tasks)).toBe(0);
    expect((await db.pipelines.get(newPipeline))!.status).toBe("failed"); // was "new" at the first crash
    expect((await db.pipelines.get(donePipeline))!.status).toBe("completed");
    expect((await db.contexts.get(readyCtx))!.status).toBe("ready");
    expect((await db.icOperations.get(completedOp))!.status).toBe("completed");
    expect((await db.icOperations.get(claimed!.icId))!.status).toBe("failed"); // its worker is gone
    const finalReset = await db.resetExperimentStates();
    expect(finalReset).toEqual({ actorTasks: 0, pipelines: 0, contexts: 0, icOperations: 0 });

    report("crash-recovery", {
      backend,
      seed,
      actors: ACTORS,
      pipelines: PIPELINES,
      shardsPerPipeline: SHARDS,
      crashes: CRASHES,
      processesKilled: totalKills,
      runMs,
      resets,
      shardsCompleted: PIPELINES * SHARDS,
      rowsLost: 0,
    });
  } finally {
    await db.close();
  }
}

describe(`crash recovery: ${ACTORS} actors, ${PIPELINES} pipelines`, () => {
  it(
    "on a temp file",
    async () => {
      await scenario("file", `file:${join(tempDir(), "crash.db")}`);
    },
    size(60_000, 600_000),
  );

  it(
    "through sqld",
    async () => {
      const server = await startSqld();
      servers.push(server);
      await scenario("sqld", server.url);
    },
    size(90_000, 600_000),
  );
});
