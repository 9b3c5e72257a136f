/**
 * Scenario 18 — chaos: actors SIGKILLed at random, all the time.
 *
 * Actor processes (workers/lease.ts, mode `actor`) claim tasks with a short
 * lease, work (heartbeating on long shards), and complete them with
 * `completeWithProgress(…, { actorId })`. Every ~300 ms the test SIGKILLs a
 * random working actor and releases a spare (started ahead, with a new actor
 * id) in its place — on a loaded machine the kills wait for a spare to be
 * ready, and the achieved interval is reported. Whatever
 * a killed actor held is re-taken by claimNext once its lease ends — no
 * reset, no reaper. At the end:
 *  - every task is completed, exactly once (no task acknowledged twice), and
 *    none is left scheduled, in progress or failed (0 stuck);
 *  - each pipeline's counters equal its completed tasks (shards and samples);
 *  - the re-takes are counted (tasks with attempts > 1).
 * Small: 4 actors, 60 tasks (sqld 40); heavy (`npm run test:stress`): 8
 * actors, 400 tasks, on a file and on sqld. Tasks allow 50 attempts, so
 * that a task killed again and again is still retried (the point here is
 * that no kill loses or doubles work; maxAttempts has its own tests).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RFDatabase } from "../../src/index";
import { startSqld, type SqldServer } from "../support/sqld";
import {
  cleanupAll,
  prng,
  releaseBarrier,
  report,
  resultOf,
  size,
  sleep,
  startWorker,
  tempDir,
  type Worker,
} from "./support";

const ACTORS = size(4, 8);
const TASKS = { file: size(60, 400), sqld: size(40, 400) };
const PIPELINES = 4;
const KILL_EVERY_MS = 300;
/** Actor processes started ahead, waiting to replace a killed one at once. */
const SPARES = size(3, 6);
const LEASE_MS = 600;
/** Shards of 5–300 ms: the longer ones outlast a third of the lease, so heartbeats happen. */
const WORK_MS: [number, number] = [5, 300];

const samplesOf = (shardId: number) => 100 + shardId;

const servers: SqldServer[] = [];
afterAll(async () => {
  await cleanupAll();
  for (const s of servers) await s.stop();
});

type Line = { op: string; taskId: number; attempts?: number };

function readAcks(file: string): Line[] {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const out: Line[] = [];
  for (const l of text.split("\n")) {
    if (!l) continue;
    try {
      out.push(JSON.parse(l) as Line);
    } catch {
      // the line a kill cut
    }
  }
  return out;
}

async function chaos(backend: "file" | "sqld", url: string) {
  const tasks = TASKS[backend];
  const seed = Number(process.env.RF_SEED ?? Date.now() % 1_000_000);
  const rand = prng(seed);
  const dir = tempDir();
  const db = await RFDatabase.open({ url, migrate: true });
  try {
    const experimentId = await db.experiments.create({ experimentName: `chaos-${backend}`, numActors: ACTORS });
    const pipelineIds: number[] = [];
    for (let p = 0; p < PIPELINES; p++)
      pipelineIds.push(
        await db.pipelines.create({
          experimentId,
          pipelineName: `p${p}`,
          pipelineType: "vllm",
          modelConfig: {},
          samplingParams: {},
          status: "ongoing",
        }),
      );
    await db.transaction(async (tx) => {
      for (let i = 0; i < tasks; i++)
        await tx.actorTasks.create({
          experimentId,
          pipelineId: pipelineIds[i % PIPELINES]!,
          actorId: 0,
          shardId: Math.floor(i / PIPELINES),
          maxAttempts: 50,
        });
    });

    let nextActor = 1;
    const ackFiles: string[] = [];
    const active = new Map<number, Worker>();
    /** Started ahead and waiting for their go file, so a killed actor is replaced at once. */
    const spares: { actorId: number; worker: Worker; goFile: string }[] = [];
    const all: Worker[] = [];
    const spawnActor = (spare: boolean) => {
      const actorId = nextActor++;
      const ackFile = join(dir, `acks-${actorId}.jsonl`);
      const goFile = join(dir, `go-${actorId}`);
      ackFiles.push(ackFile);
      const worker = startWorker("lease", {
        mode: "actor",
        url,
        experimentId,
        actorId,
        leaseMs: LEASE_MS,
        ackFile,
        workMs: WORK_MS,
        seed: seed + actorId,
        ...(spare ? { goFile } : {}),
      });
      all.push(worker);
      if (spare) spares.push({ actorId, worker, goFile });
      else active.set(actorId, worker);
      void worker.exited.then(() => active.delete(actorId));
    };
    for (let i = 0; i < ACTORS; i++) spawnActor(false);
    for (let i = 0; i < SPARES; i++) spawnActor(true);

    const started = Date.now();
    let kills = 0;
    let ticksWithoutSpare = 0;
    const deadline = started + size(120_000, 600_000);
    for (;;) {
      const c = await db.actorTasks.countByStatus(experimentId);
      if (c.scheduled + c.in_progress === 0) break;
      if (Date.now() > deadline) throw new Error(`chaos run did not finish: ${JSON.stringify(c)}, ${kills} kills`);
      await sleep(KILL_EVERY_MS * (0.5 + rand()));
      // Kill only when a spare is ready to take over at once (on a loaded machine process start-up
      // can outlast many kill intervals: killing faster than actors start would only starve the run).
      const spare = spares.findIndex((sp) => sp.worker.messages.some((m) => m.type === "ready"));
      const victims = [...active.entries()].filter(([, w]) => w.messages.some((m) => m.type === "go"));
      if (spare < 0 || victims.length === 0) {
        ticksWithoutSpare++;
        continue;
      }
      const [actorId, victim] = victims[Math.floor(rand() * victims.length)]!;
      victim.kill("SIGKILL");
      active.delete(actorId);
      kills++;
      const [next] = spares.splice(spare, 1);
      releaseBarrier(next!.goFile);
      active.set(next!.actorId, next!.worker);
      void next!.worker.exited.then(() => active.delete(next!.actorId));
      spawnActor(true);
    }
    // Spares still waiting are released: they find nothing unfinished and exit.
    for (const sp of spares) releaseBarrier(sp.goFile);
    const wallMs = Date.now() - started;
    // The survivors see nothing unfinished and exit on their own.
    await Promise.all(
      [...active.values(), ...spares.map((sp) => sp.worker)].map((w) =>
        resultOf(w, 60_000).then((r) => r as { completed: number; lost: number }),
      ),
    );
    for (const w of all) {
      const fatal = w.messages.find((m) => m.type === "fatal");
      expect(fatal, `actor failed on its own: ${JSON.stringify(fatal)}`).toBeUndefined();
    }

    // Every task completed, exactly once; nothing stuck.
    const counts = await db.actorTasks.countByStatus(experimentId);
    expect(counts).toEqual({ scheduled: 0, in_progress: 0, completed: tasks, failed: 0 });
    const acks = ackFiles.flatMap(readAcks);
    const completions = acks.filter((l) => l.op === "completed").map((l) => l.taskId);
    expect(new Set(completions).size, "a task acknowledged as completed twice").toBe(completions.length);
    expect(completions.length).toBeLessThanOrEqual(tasks); // a kill may come between commit and log line
    // Counters equal the completed tasks, per pipeline.
    const rs = await db.client.execute({
      sql: "SELECT pipeline_id, count(*) AS n, sum(100 + shard_id) AS samples, sum(attempts > 1) AS retaken, max(attempts) AS maxAttempts FROM actor_tasks WHERE experiment_id = ? AND status = 'completed' GROUP BY pipeline_id ORDER BY pipeline_id",
      args: [experimentId],
    });
    let retaken = 0;
    let maxAttempts = 0;
    for (const row of rs.rows) {
      const pl = (await db.pipelines.get(Number(row.pipeline_id)))!;
      expect([pl.shardsCompleted, pl.totalSamplesProcessed]).toEqual([Number(row.n), Number(row.samples)]);
      retaken += Number(row.retaken);
      maxAttempts = Math.max(maxAttempts, Number(row.maxAttempts));
    }
    const totalShards = (await Promise.all(pipelineIds.map((id) => db.pipelines.get(id)))).reduce(
      (s, pl) => s + pl!.shardsCompleted,
      0,
    );
    expect(totalShards).toBe(tasks);
    const expectedSamples = Array.from({ length: tasks }, (_, i) => samplesOf(Math.floor(i / PIPELINES))).reduce(
      (a, b) => a + b,
      0,
    );
    expect(rs.rows.reduce((s, r) => s + Number(r.samples), 0)).toBe(expectedSamples);

    report("chaos", {
      backend,
      seed,
      actors: ACTORS,
      tasks,
      leaseMs: LEASE_MS,
      killEveryMs: KILL_EVERY_MS,
      kills,
      killIntervalMs: kills ? Math.round(wallMs / kills) : null,
      ticksWithoutReadySpare: ticksWithoutSpare,
      actorProcesses: all.length,
      tasksRetaken: retaken,
      maxAttempts,
      // completions refused because the lease had passed to another actor (a slow, not a dead, holder)
      lostLeasesSeen: acks.filter((l) => l.op === "lost").length,
      completedExactlyOnce: true,
      stuck: counts.scheduled + counts.in_progress,
      wallMs,
    });
  } finally {
    await db.close();
  }
}

describe(`chaos: ${ACTORS} actors, one SIGKILLed every ~${KILL_EVERY_MS} ms`, () => {
  it(
    "on a temp file: every task completed exactly once, counters exact, nothing stuck",
    async () => {
      await chaos("file", `file:${join(tempDir(), "chaos.db")}`);
    },
    size(150_000, 700_000),
  );

  it(
    "through sqld: the same",
    async () => {
      const server = await startSqld();
      servers.push(server);
      await chaos("sqld", server.url);
    },
    size(150_000, 700_000),
  );
});
