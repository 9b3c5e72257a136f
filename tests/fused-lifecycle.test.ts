/**
 * The fused lifecycle calls, on every backend of the matrix (memory, file, sqld):
 *
 * - `actorTasks.create({ …, status: "in_progress", startedAt })`: create + start
 *   in one INSERT;
 * - `actorTasks.completeWithProgress(taskId, { shards?, samples?, currentShardId? }, time?)`:
 *   `complete` + the task's pipeline's `advanceProgress` as one atomic batch,
 *   returning the pipeline's new counters.
 *
 * What must hold: the same rows as the unfused calls would write; nothing
 * written on InvalidTransitionError / NotFoundError / ValidationError (also
 * when the database refuses the progress half); exact counters under
 * concurrent completions; one winner when the same task is completed twice at
 * once; and inside `db.transaction` it commits and rolls back with it.
 * (Request costs — one request each — are pinned in tests/remote/round-trips.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidTransitionError, NotFoundError, ValidationError, type RFDatabase } from "../src/index";
import { BACKENDS, openBackend, type Backend } from "./support/backends";
import { makeExperiment, makePipeline } from "./support/factories";

describe.each(BACKENDS)("fused lifecycle on %s", (backendName) => {
  let backend: Backend;
  let db: RFDatabase;
  beforeAll(async () => {
    backend = await openBackend(backendName);
    db = backend.db;
  });
  afterAll(async () => {
    await backend?.close();
  });

  async function setup(): Promise<{ experimentId: number; pipelineId: number }> {
    const experimentId = await makeExperiment(db);
    const pipelineId = await makePipeline(db, { experimentId, status: "ongoing" });
    return { experimentId, pipelineId };
  }

  /** Everything completeWithProgress may touch, to compare before/after a refused call. */
  async function snapshot(taskId: number, pipelineId: number) {
    return { task: await db.actorTasks.get(taskId), pipeline: await db.pipelines.get(pipelineId) };
  }

  describe("create with status and startedAt", () => {
    it("creates a running task with its start time in one call", async () => {
      const { experimentId, pipelineId } = await setup();
      const startedAt = new Date("2026-06-01T12:00:00.250Z");
      const id = await db.actorTasks.create({
        experimentId,
        pipelineId,
        actorId: 2,
        shardId: 5,
        status: "in_progress",
        startedAt,
      });
      expect(await db.actorTasks.get(id)).toMatchObject({
        taskId: id,
        experimentId,
        pipelineId,
        actorId: 2,
        shardId: 5,
        status: "in_progress",
        startedAt,
        completedAt: null,
        durationSeconds: null,
      });
      expect((await db.actorTasks.listRunning(experimentId)).map((t) => t.taskId)).toEqual([id]);
    });

    it("accepts an ISO-8601 string and records startedAt with any status", async () => {
      const { experimentId, pipelineId } = await setup();
      const id = await db.actorTasks.create({
        experimentId,
        pipelineId,
        actorId: 0,
        shardId: 0,
        startedAt: "2026-06-01T00:00:00Z",
      });
      expect(await db.actorTasks.get(id)).toMatchObject({
        status: "scheduled",
        startedAt: new Date("2026-06-01T00:00:00Z"),
      });
    });

    it("without startedAt nothing changes: the start time stays null, also for in_progress", async () => {
      const { experimentId, pipelineId } = await setup();
      const a = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 0 });
      const b = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 1, status: "in_progress" });
      expect(await db.actorTasks.get(a)).toMatchObject({ status: "scheduled", startedAt: null });
      expect(await db.actorTasks.get(b)).toMatchObject({ status: "in_progress", startedAt: null });
    });

    it("a bad startedAt is a ValidationError and creates nothing", async () => {
      const { experimentId, pipelineId } = await setup();
      for (const bad of ["yesterday", new Date(Number.NaN), 12345, null]) {
        await expect(
          db.actorTasks.create({
            experimentId,
            pipelineId,
            actorId: 0,
            shardId: 0,
            status: "in_progress",
            startedAt: bad as never,
          }),
        ).rejects.toBeInstanceOf(ValidationError);
      }
      expect(await db.actorTasks.countByStatus(experimentId)).toEqual({
        scheduled: 0,
        in_progress: 0,
        completed: 0,
        failed: 0,
      });
    });

    it("a missing pipeline is NotFoundError, as for create without startedAt", async () => {
      const { experimentId } = await setup();
      await expect(
        db.actorTasks.create({
          experimentId,
          pipelineId: 999_999,
          actorId: 0,
          shardId: 0,
          status: "in_progress",
          startedAt: new Date(),
        }),
      ).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe("completeWithProgress", () => {
    it("completes the task (end time, duration) and advances its pipeline, returning the new counters", async () => {
      const { experimentId, pipelineId } = await setup();
      const start = new Date("2026-06-02T10:00:00.000Z");
      const end = new Date("2026-06-02T10:00:12.500Z");
      const id = await db.actorTasks.create({
        experimentId,
        pipelineId,
        actorId: 1,
        shardId: 3,
        status: "in_progress",
        startedAt: start,
      });
      const result = await db.actorTasks.completeWithProgress(id, { samples: 256, currentShardId: 3 }, end);
      expect(result).toEqual({ pipelineId, currentShardId: 3, shardsCompleted: 1, totalSamplesProcessed: 256 });
      expect(await db.actorTasks.get(id)).toMatchObject({
        status: "completed",
        startedAt: start,
        completedAt: end,
        durationSeconds: 12.5,
      });
      expect(await db.pipelines.get(pipelineId)).toMatchObject({
        currentShardId: 3,
        shardsCompleted: 1,
        totalSamplesProcessed: 256,
        status: "ongoing",
      });
      expect(await db.actorTasks.listRunning(experimentId)).toEqual([]);
    });

    it("writes what complete + advanceProgress would write", async () => {
      const { experimentId, pipelineId } = await setup();
      const other = await makePipeline(db, { experimentId });
      const start = new Date("2026-06-03T00:00:00Z");
      const end = "2026-06-03T00:00:04Z";
      const fused = await db.actorTasks.create({
        experimentId,
        pipelineId,
        actorId: 0,
        shardId: 0,
        status: "in_progress",
        startedAt: start,
      });
      const plain = await db.actorTasks.create({ experimentId, pipelineId: other, actorId: 0, shardId: 0 });
      await db.actorTasks.start(plain, start);
      const fusedResult = await db.actorTasks.completeWithProgress(
        fused,
        { shards: 2, samples: 7, currentShardId: 9 },
        end,
      );
      await db.actorTasks.complete(plain, end);
      const plainResult = await db.pipelines.advanceProgress(other, { shards: 2, samples: 7, currentShardId: 9 });
      const strip = (t: object | null) => {
        const { taskId: _t, pipelineId: _p, createdAt: _c, updatedAt: _u, ...rest } = t as Record<string, unknown>;
        return rest;
      };
      expect(strip(await db.actorTasks.get(fused))).toEqual(strip(await db.actorTasks.get(plain)));
      expect({ ...fusedResult, pipelineId: 0 }).toEqual({ ...plainResult, currentShardId: 9, pipelineId: 0 });
    });

    it("defaults: one shard, no samples, the current shard unchanged, the time now", async () => {
      const { experimentId, pipelineId } = await setup();
      await db.pipelines.setProgress(pipelineId, { currentShardId: 4, shardsCompleted: 4, totalSamplesProcessed: 40 });
      const id = await db.actorTasks.create({
        experimentId,
        pipelineId,
        actorId: 0,
        shardId: 4,
        status: "in_progress",
        startedAt: new Date(Date.now() - 1000),
      });
      const before = Date.now();
      expect(await db.actorTasks.completeWithProgress(id)).toEqual({
        pipelineId,
        currentShardId: 4,
        shardsCompleted: 5,
        totalSamplesProcessed: 40,
      });
      const task = await db.actorTasks.get(id);
      expect(task!.completedAt!.getTime()).toBeGreaterThanOrEqual(before - 5);
      expect(task!.durationSeconds).toBeGreaterThan(0.5);
    });

    it("from scheduled: InvalidTransitionError, and neither the task nor the pipeline changes", async () => {
      const { experimentId, pipelineId } = await setup();
      const id = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 0 });
      const before = await snapshot(id, pipelineId);
      const err = await db.actorTasks.completeWithProgress(id, { samples: 5 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidTransitionError);
      expect(err).toMatchObject({ from: "scheduled", to: "completed", id });
      expect(await snapshot(id, pipelineId)).toEqual(before);
    });

    it("twice: the second is InvalidTransitionError and the pipeline is advanced once", async () => {
      const { experimentId, pipelineId } = await setup();
      const id = await db.actorTasks.create({
        experimentId,
        pipelineId,
        actorId: 0,
        shardId: 0,
        status: "in_progress",
        startedAt: new Date(),
      });
      await db.actorTasks.completeWithProgress(id, { samples: 3 });
      const before = await snapshot(id, pipelineId);
      await expect(db.actorTasks.completeWithProgress(id, { samples: 3 })).rejects.toBeInstanceOf(
        InvalidTransitionError,
      );
      expect(await snapshot(id, pipelineId)).toEqual(before);
      expect(before.pipeline).toMatchObject({ shardsCompleted: 1, totalSamplesProcessed: 3 });
    });

    it("from failed: InvalidTransitionError, nothing written", async () => {
      const { experimentId, pipelineId } = await setup();
      const id = await db.actorTasks.create({
        experimentId,
        pipelineId,
        actorId: 0,
        shardId: 0,
        status: "in_progress",
        startedAt: new Date(),
      });
      await db.actorTasks.fail(id, "OOM");
      const before = await snapshot(id, pipelineId);
      await expect(db.actorTasks.completeWithProgress(id)).rejects.toMatchObject({
        name: "InvalidTransitionError",
        from: "failed",
      });
      expect(await snapshot(id, pipelineId)).toEqual(before);
    });

    it("a missing task is NotFoundError and writes nothing", async () => {
      const { pipelineId } = await setup();
      const before = await db.pipelines.get(pipelineId);
      await expect(db.actorTasks.completeWithProgress(999_999, { samples: 1 })).rejects.toBeInstanceOf(NotFoundError);
      expect(await db.pipelines.get(pipelineId)).toEqual(before);
    });

    it("bad arguments are ValidationError before anything is sent", async () => {
      const { experimentId, pipelineId } = await setup();
      const id = await db.actorTasks.create({
        experimentId,
        pipelineId,
        actorId: 0,
        shardId: 0,
        status: "in_progress",
        startedAt: new Date(),
      });
      const before = await snapshot(id, pipelineId);
      const bad: [unknown, unknown, unknown][] = [
        [-1, {}, undefined],
        [1.5, {}, undefined],
        [id, { samples: -1 }, undefined],
        [id, { shards: 0.5 }, undefined],
        [id, { currentShardId: "3" }, undefined],
        [id, [], undefined],
        [id, null, undefined],
        [id, {}, "not a time"],
      ];
      for (const [a, b, c] of bad) {
        await expect(db.actorTasks.completeWithProgress(a as number, b as never, c as never)).rejects.toBeInstanceOf(
          ValidationError,
        );
      }
      expect(await snapshot(id, pipelineId)).toEqual(before);
    });

    it("when the database refuses the progress (counter past 2^53-1) nothing is written: the task stays in progress", async () => {
      const { experimentId, pipelineId } = await setup();
      await db.pipelines.setProgress(pipelineId, {
        currentShardId: 0,
        shardsCompleted: 0,
        totalSamplesProcessed: Number.MAX_SAFE_INTEGER - 1,
      });
      const id = await db.actorTasks.create({
        experimentId,
        pipelineId,
        actorId: 0,
        shardId: 0,
        status: "in_progress",
        startedAt: new Date(),
      });
      const before = await snapshot(id, pipelineId);
      await expect(db.actorTasks.completeWithProgress(id, { samples: 10 })).rejects.toBeInstanceOf(ValidationError);
      expect(await snapshot(id, pipelineId)).toEqual(before);
      expect(before.task!.status).toBe("in_progress");
    });

    it("concurrent completions of one pipeline's tasks never lose a count", async () => {
      const { experimentId, pipelineId } = await setup();
      const n = 24;
      const ids: number[] = [];
      for (let s = 0; s < n; s++)
        ids.push(
          await db.actorTasks.create({
            experimentId,
            pipelineId,
            actorId: s % 4,
            shardId: s,
            status: "in_progress",
            startedAt: new Date(),
          }),
        );
      // Half through this connection, half through a second one where the backend allows it.
      const other = backend.shared ? await backend.reopen() : db;
      const results = await Promise.all(
        ids.map((id, k) =>
          (k % 2 ? other : db).actorTasks.completeWithProgress(id, { samples: 10, currentShardId: k }),
        ),
      );
      expect(results.map((r) => r.shardsCompleted).sort((a, b) => a - b)).toEqual(
        Array.from({ length: n }, (_, k) => k + 1),
      );
      expect(await db.pipelines.get(pipelineId)).toMatchObject({ shardsCompleted: n, totalSamplesProcessed: 10 * n });
      expect(await db.actorTasks.countByStatus(experimentId)).toEqual({
        scheduled: 0,
        in_progress: 0,
        completed: n,
        failed: 0,
      });
    });

    it("the same task completed twice at once: exactly one wins, the pipeline advances once", async () => {
      const { experimentId, pipelineId } = await setup();
      const id = await db.actorTasks.create({
        experimentId,
        pipelineId,
        actorId: 0,
        shardId: 0,
        status: "in_progress",
        startedAt: new Date(),
      });
      const other = backend.shared ? await backend.reopen() : db;
      const outcomes = await Promise.allSettled([
        db.actorTasks.completeWithProgress(id, { samples: 1 }),
        other.actorTasks.completeWithProgress(id, { samples: 1 }),
      ]);
      expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
      const rejected = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
      expect(rejected.reason).toBeInstanceOf(InvalidTransitionError);
      expect(await db.pipelines.get(pipelineId)).toMatchObject({ shardsCompleted: 1, totalSamplesProcessed: 1 });
    });

    it("inside db.transaction it commits with the transaction, and rolls back with it", async () => {
      const { experimentId, pipelineId } = await setup();
      const a = await db.actorTasks.create({
        experimentId,
        pipelineId,
        actorId: 0,
        shardId: 0,
        status: "in_progress",
        startedAt: new Date(),
      });
      const b = await db.actorTasks.create({
        experimentId,
        pipelineId,
        actorId: 0,
        shardId: 1,
        status: "in_progress",
        startedAt: new Date(),
      });
      const inside = await db.transaction(async (tx) => {
        const r = await tx.actorTasks.completeWithProgress(a, { samples: 4 });
        // the transaction sees its own write
        expect((await tx.pipelines.get(pipelineId))!.shardsCompleted).toBe(1);
        return r;
      });
      expect(inside).toMatchObject({ shardsCompleted: 1, totalSamplesProcessed: 4 });
      const before = await snapshot(b, pipelineId);
      const boom = new Error("changed my mind");
      await expect(
        db.transaction(async (tx) => {
          await tx.actorTasks.completeWithProgress(b, { samples: 4 });
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await snapshot(b, pipelineId)).toEqual(before);
      expect(before.task!.status).toBe("in_progress");
    });

    it("the whole fused lifecycle: create running, poll, complete with progress, for every shard", async () => {
      const { experimentId, pipelineId } = await setup();
      let last: Awaited<ReturnType<typeof db.actorTasks.completeWithProgress>> | undefined;
      for (let shard = 0; shard < 8; shard++) {
        const id = await db.actorTasks.create({
          experimentId,
          pipelineId,
          actorId: shard % 2,
          shardId: shard,
          status: "in_progress",
          startedAt: new Date(),
        });
        expect((await db.actorTasks.listRunning(experimentId)).map((t) => t.taskId)).toEqual([id]);
        last = await db.actorTasks.completeWithProgress(id, { samples: 100, currentShardId: shard });
      }
      expect(last).toEqual({ pipelineId, currentShardId: 7, shardsCompleted: 8, totalSamplesProcessed: 800 });
      expect(await db.actorTasks.countByStatus(experimentId)).toEqual({
        scheduled: 0,
        in_progress: 0,
        completed: 8,
        failed: 0,
      });
    });
  });
});
