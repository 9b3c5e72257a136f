/**
 * Every repository method, every status set, every error class — one suite,
 * run against each backend of the matrix (memory, file, sqld).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ACTOR_TASK_STATUSES,
  ACTOR_TASK_TRANSITIONS,
  CONTEXT_STATUSES,
  CONTEXT_TRANSITIONS,
  EXPERIMENT_STATUSES,
  EXPERIMENT_TRANSITIONS,
  IC_OPERATIONS,
  IC_STATUSES,
  IC_TRANSITIONS,
  InvalidTransitionError,
  NotFoundError,
  PIPELINE_STATUSES,
  PIPELINE_TRANSITIONS,
  RFDatabaseError,
  ValidationError,
  type RFDatabase,
} from "../src/index";
import { BACKENDS, openBackend, type Backend } from "./support/backends";
import { makeContext, makeExperiment, makeIcOperation, makePipeline, makeTask } from "./support/factories";
import { pathTo } from "./support/transitions";

describe.each(BACKENDS)("repositories on %s", (backendName) => {
  let backend: Backend;
  let db: RFDatabase;
  beforeAll(async () => {
    backend = await openBackend(backendName);
    db = backend.db;
  });
  afterAll(async () => {
    await backend?.close();
  });

  describe("experiments", () => {
    it("creates with defaults and reads back every column", async () => {
      const before = Date.now();
      const id = await db.experiments.create({ experimentName: "alpha", numActors: 4 });
      const row = await db.experiments.get(id);
      expect(row).toMatchObject({
        experimentId: id,
        experimentName: "alpha",
        numActors: 4,
        numShards: 0,
        numCpus: null,
        numGpus: null,
        mlflowExperimentId: null,
        status: "running",
        error: null,
      });
      expect(row!.createdAt).toBeInstanceOf(Date);
      expect(Math.abs(row!.createdAt.getTime() - before)).toBeLessThan(60_000);
    });

    it("stores every optional field", async () => {
      const id = await db.experiments.create({
        experimentName: "beta",
        numActors: 2,
        numShards: 16,
        numCpus: 8,
        numGpus: 2,
        mlflowExperimentId: "mlflow-42",
        status: "completed",
      });
      expect(await db.experiments.get(id)).toMatchObject({
        numShards: 16,
        numCpus: 8,
        numGpus: 2,
        mlflowExperimentId: "mlflow-42",
        status: "completed",
      });
    });

    it("get returns null for a missing id", async () => {
      expect(await db.experiments.get(987654)).toBeNull();
    });

    it("getCurrent is the most recent running experiment", async () => {
      const a = await makeExperiment(db);
      const b = await makeExperiment(db);
      await makeExperiment(db, { status: "completed" });
      expect((await db.experiments.getCurrent())!.experimentId).toBe(b);
      await db.experiments.setStatus(b, "failed");
      expect((await db.experiments.getCurrent())!.experimentId).toBe(a);
    });

    it("getByName returns the most recent with that name, listNames the distinct names", async () => {
      await db.experiments.create({ experimentName: "dup-name", numActors: 1 });
      const second = await db.experiments.create({ experimentName: "dup-name", numActors: 1 });
      expect((await db.experiments.getByName("dup-name"))!.experimentId).toBe(second);
      expect(await db.experiments.getByName("no-such-name")).toBeNull();
      const names = await db.experiments.listNames();
      expect(names.filter((n) => n === "dup-name")).toHaveLength(1);
      expect(names).toEqual([...names].sort());
      expect(names).toContain("alpha");
    });

    // Statuses are reached along allowed moves (EXPERIMENT_TRANSITIONS); tests/transitions.test.ts covers the refusals.
    it.each(EXPERIMENT_STATUSES)("setStatus reaches %s along allowed moves", async (status) => {
      const id = await makeExperiment(db);
      for (const s of pathTo(EXPERIMENT_TRANSITIONS, "running", status)!) await db.experiments.setStatus(id, s);
      expect((await db.experiments.get(id))!.status).toBe(status);
    });

    it("setError / getError / setNumShards", async () => {
      const id = await makeExperiment(db);
      expect(await db.experiments.getError(id)).toBe("");
      await db.experiments.setError(id, "actor 3 died: 'quoted' \"text\"; DROP TABLE experiments;--");
      expect(await db.experiments.getError(id)).toBe("actor 3 died: 'quoted' \"text\"; DROP TABLE experiments;--");
      await db.experiments.setNumShards(id, 128);
      expect((await db.experiments.get(id))!.numShards).toBe(128);
    });

    it("setters on a missing id throw NotFoundError", async () => {
      await expect(db.experiments.setStatus(999_999, "failed")).rejects.toBeInstanceOf(NotFoundError);
      await expect(db.experiments.setError(999_999, "x")).rejects.toBeInstanceOf(NotFoundError);
      await expect(db.experiments.getError(999_999)).rejects.toBeInstanceOf(NotFoundError);
      await expect(db.experiments.setNumShards(999_999, 1)).rejects.toThrow(/experiment 999999 not found/);
    });

    it("bad input is a ValidationError and writes nothing", async () => {
      const before = await db.experiments.listNames();
      const bad: unknown[] = [
        { experimentName: "", numActors: 1 },
        { experimentName: "x", numActors: -1 },
        { experimentName: "x", numActors: 1.5 },
        { experimentName: "x", numActors: Number.NaN },
        { experimentName: "x", numActors: "4" },
        { experimentName: 5, numActors: 1 },
        { experimentName: "x", numActors: 1, status: "paused" },
        { experimentName: "x", numActors: 1, numShards: Infinity },
        null,
      ];
      for (const input of bad) {
        await expect(db.experiments.create(input as never)).rejects.toBeInstanceOf(ValidationError);
      }
      expect(await db.experiments.listNames()).toEqual(before); // no "x" experiment was created
      const id = await makeExperiment(db);
      await expect(db.experiments.setStatus(id, "paused" as never)).rejects.toBeInstanceOf(ValidationError);
      await expect(db.experiments.setStatus(-1, "failed")).rejects.toBeInstanceOf(ValidationError);
      await expect(db.experiments.setNumShards(id, -3)).rejects.toBeInstanceOf(ValidationError);
      expect(await db.experiments.get(id)).toMatchObject({ status: "running", numShards: 8 });
    });
  });

  describe("contexts", () => {
    it("creates, reads by id and by hash, with JSON configs parsed back", async () => {
      const rag = { k: 5, retriever: "bm25", weights: [0.5, 0.25], nested: { on: true, none: null } };
      const id = await db.contexts.create({ contextHash: "ctx-a", ragConfig: rag, promptConfig: ["system", 3] });
      const row = await db.contexts.get(id);
      expect(row).toMatchObject({
        contextId: id,
        contextHash: "ctx-a",
        ragConfig: rag,
        promptConfig: ["system", 3],
        status: "pending",
      });
      expect(await db.contexts.getByHash("ctx-a")).toEqual(row);
      expect(await db.contexts.getByHash("nope")).toBeNull();
      expect(await db.contexts.get(424242)).toBeNull();
    });

    it("accepts any JSON value: numbers, strings, arrays, null", async () => {
      for (const value of [42, "text", [1, [2, [3]]], true, null, 0.125, { "quote'd": '"x"' }]) {
        const id = await makeContext(db, { ragConfig: value, promptConfig: value });
        const row = await db.contexts.get(id);
        expect(row!.ragConfig).toEqual(value);
        expect(row!.promptConfig).toEqual(value);
      }
    });

    it("deduplicates by hash: the same hash returns the existing id, first config kept", async () => {
      const a = await db.contexts.create({ contextHash: "same", ragConfig: { v: 1 } });
      const b = await db.contexts.create({ contextHash: "same", ragConfig: { v: 2 } });
      expect(b).toBe(a);
      expect((await db.contexts.get(a))!.ragConfig).toEqual({ v: 1 });
    });

    it("deduplicates concurrent creates of one hash", async () => {
      const ids = await Promise.all(Array.from({ length: 20 }, () => db.contexts.create({ contextHash: "raced" })));
      expect(new Set(ids).size).toBe(1);
    });

    it.each(CONTEXT_STATUSES)("setStatus reaches %s along allowed moves", async (status) => {
      const id = await makeContext(db);
      for (const s of pathTo(CONTEXT_TRANSITIONS, "pending", status)!) await db.contexts.setStatus(id, s);
      expect((await db.contexts.get(id))!.status).toBe(status);
    });

    it("start/end times: Date or ISO string in, Date out; duration computed or given", async () => {
      const id = await makeContext(db);
      await db.contexts.setStartTime(id, "2026-01-02T03:04:05.000Z");
      await db.contexts.setEndTime(id, new Date("2026-01-02T03:04:35.500Z"));
      let row = await db.contexts.get(id);
      expect(row!.startedAt).toEqual(new Date("2026-01-02T03:04:05.000Z"));
      expect(row!.completedAt).toEqual(new Date("2026-01-02T03:04:35.500Z"));
      expect(row!.durationSeconds).toBeCloseTo(30.5, 6);
      await db.contexts.setEndTime(id, "2026-01-02T03:05:00Z", 12.25);
      row = await db.contexts.get(id);
      expect(row!.durationSeconds).toBe(12.25);
      const noStart = await makeContext(db);
      await db.contexts.setEndTime(noStart, new Date());
      expect((await db.contexts.get(noStart))!.durationSeconds).toBeNull();
    });

    it("an end before the start is recorded with a duration of 0 (one policy: clocks of different hosts differ)", async () => {
      const id = await makeContext(db);
      await db.contexts.setStartTime(id, "2026-01-02T00:00:00.250Z");
      await db.contexts.setEndTime(id, "2026-01-02T00:00:00Z");
      const row = await db.contexts.get(id);
      expect(row!.completedAt).toEqual(new Date("2026-01-02T00:00:00Z"));
      expect(row!.durationSeconds).toBe(0);
    });

    it("setError, NotFoundError and ValidationError", async () => {
      const id = await makeContext(db);
      await db.contexts.setError(id, "embedding failed");
      expect((await db.contexts.get(id))!.error).toBe("embedding failed");
      await expect(db.contexts.setError(555_555, "x")).rejects.toBeInstanceOf(NotFoundError);
      await expect(db.contexts.setStartTime(555_555, new Date())).rejects.toBeInstanceOf(NotFoundError);
      await expect(db.contexts.setStatus(id, "done" as never)).rejects.toBeInstanceOf(ValidationError);
      await expect(db.contexts.setStartTime(id, "yesterday")).rejects.toBeInstanceOf(ValidationError);
      await expect(db.contexts.setStartTime(id, new Date(Number.NaN))).rejects.toBeInstanceOf(ValidationError);
      await expect(db.contexts.setEndTime(id, new Date(), -1)).rejects.toBeInstanceOf(ValidationError);
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      for (const bad of [cyclic, { f: () => 1 }, { n: Number.NaN }, { u: undefined }, new Date(), 10n, new Map()]) {
        await expect(
          db.contexts.create({ contextHash: `bad-${Math.random()}`, ragConfig: bad }),
        ).rejects.toBeInstanceOf(ValidationError);
      }
    });
  });

  describe("pipelines", () => {
    it("creates, gets and lists by experiment in id order", async () => {
      const experimentId = await makeExperiment(db);
      const other = await makeExperiment(db);
      const ctx = await makeContext(db);
      const p1 = await makePipeline(db, { experimentId, contextId: ctx });
      const p2 = await makePipeline(db, { experimentId, modelConfig: [1, 2], samplingParams: 0.5 });
      await makePipeline(db, { experimentId: other });
      const list = await db.pipelines.list(experimentId);
      expect(list.map((p) => p.pipelineId)).toEqual([p1, p2]);
      expect(list[0]).toMatchObject({
        experimentId,
        contextId: ctx,
        pipelineType: "vllm",
        modelConfig: { model: "llama-3-8b", dtype: "bf16" },
        samplingParams: { temperature: 0.7, top_p: 0.9 },
        status: "new",
        currentShardId: 0,
        shardsCompleted: 0,
        totalSamplesProcessed: 0,
        error: null,
      });
      expect(list[1]!.modelConfig).toEqual([1, 2]);
      expect(list[1]!.samplingParams).toBe(0.5);
      expect(await db.pipelines.get(p1)).toEqual(list[0]);
      expect(await db.pipelines.get(777_777)).toBeNull();
      expect(await db.pipelines.list(999_999)).toEqual([]);
    });

    it("create with a missing experiment or context is NotFoundError and writes nothing", async () => {
      const experimentId = await makeExperiment(db);
      await expect(makePipeline(db, { experimentId: 888_888 })).rejects.toBeInstanceOf(NotFoundError);
      await expect(makePipeline(db, { experimentId, contextId: 888_888 })).rejects.toBeInstanceOf(NotFoundError);
      expect(await db.pipelines.list(experimentId)).toEqual([]);
      await expect(makePipeline(db, { experimentId, pipelineType: "" })).rejects.toBeInstanceOf(ValidationError);
      await expect(makePipeline(db, { experimentId, status: "running" as never })).rejects.toBeInstanceOf(
        ValidationError,
      );
    });

    it.each(PIPELINE_STATUSES)("setStatus reaches %s along allowed moves", async (status) => {
      const id = await makePipeline(db);
      for (const s of pathTo(PIPELINE_TRANSITIONS, "new", status)!) await db.pipelines.setStatus(id, s);
      expect((await db.pipelines.get(id))!.status).toBe(status);
    });

    it("setProgress overwrites, advanceProgress increments and returns the totals", async () => {
      const id = await makePipeline(db);
      await db.pipelines.setProgress(id, { currentShardId: 3, shardsCompleted: 3, totalSamplesProcessed: 300 });
      expect(await db.pipelines.advanceProgress(id, { samples: 100, currentShardId: 4 })).toEqual({
        shardsCompleted: 4,
        totalSamplesProcessed: 400,
      });
      expect(await db.pipelines.advanceProgress(id, { shards: 2 })).toEqual({
        shardsCompleted: 6,
        totalSamplesProcessed: 400,
      });
      expect(await db.pipelines.advanceProgress(id)).toEqual({ shardsCompleted: 7, totalSamplesProcessed: 400 });
      expect((await db.pipelines.get(id))!.currentShardId).toBe(4);
    });

    it("advanceProgress from many concurrent callers loses no increment", async () => {
      const id = await makePipeline(db);
      await Promise.all(Array.from({ length: 50 }, (_, i) => db.pipelines.advanceProgress(id, { samples: i })));
      expect(await db.pipelines.get(id)).toMatchObject({ shardsCompleted: 50, totalSamplesProcessed: (49 * 50) / 2 });
    });

    it("advanceProgress past 2^53 is refused, not stored", async () => {
      const id = await makePipeline(db);
      await db.pipelines.advanceProgress(id, { samples: Number.MAX_SAFE_INTEGER });
      await expect(db.pipelines.advanceProgress(id, { samples: 1 })).rejects.toBeInstanceOf(ValidationError);
      expect((await db.pipelines.get(id))!.totalSamplesProcessed).toBe(Number.MAX_SAFE_INTEGER);
    });

    it("setError, NotFoundError, ValidationError", async () => {
      const id = await makePipeline(db);
      await db.pipelines.setError(id, "OOM");
      expect((await db.pipelines.get(id))!.error).toBe("OOM");
      await expect(db.pipelines.setError(123_456, "x")).rejects.toBeInstanceOf(NotFoundError);
      await expect(db.pipelines.advanceProgress(123_456)).rejects.toBeInstanceOf(NotFoundError);
      await expect(
        db.pipelines.setProgress(123_456, { currentShardId: 0, shardsCompleted: 0, totalSamplesProcessed: 0 }),
      ).rejects.toBeInstanceOf(NotFoundError);
      await expect(
        db.pipelines.setProgress(id, { currentShardId: 0, shardsCompleted: -1, totalSamplesProcessed: 0 }),
      ).rejects.toBeInstanceOf(ValidationError);
      await expect(db.pipelines.advanceProgress(id, { shards: 0.5 })).rejects.toBeInstanceOf(ValidationError);
      expect((await db.pipelines.get(id))!.shardsCompleted).toBe(0);
    });
  });

  describe("actor tasks", () => {
    it("creates scheduled, gets, and lists the running ones of an experiment", async () => {
      const experimentId = await makeExperiment(db);
      const pipelineId = await makePipeline(db, { experimentId });
      const t1 = await makeTask(db, { experimentId, pipelineId, actorId: 1, shardId: 0 });
      const t2 = await makeTask(db, { experimentId, pipelineId, actorId: 2, shardId: 1 });
      const elsewhere = await makeTask(db, {});
      expect(await db.actorTasks.get(t1)).toMatchObject({
        taskId: t1,
        experimentId,
        pipelineId,
        actorId: 1,
        shardId: 0,
        status: "scheduled",
        errorMessage: null,
        startedAt: null,
        completedAt: null,
        durationSeconds: null,
      });
      expect(await db.actorTasks.listRunning(experimentId)).toEqual([]);
      await db.actorTasks.start(t1);
      await db.actorTasks.start(t2);
      await db.actorTasks.start(elsewhere);
      expect((await db.actorTasks.listRunning(experimentId)).map((t) => t.taskId)).toEqual([t1, t2]);
      await db.actorTasks.complete(t1);
      expect((await db.actorTasks.listRunning(experimentId)).map((t) => t.taskId)).toEqual([t2]);
      expect(await db.actorTasks.get(999_999)).toBeNull();
    });

    it("start → complete records times and duration", async () => {
      const id = await makeTask(db);
      await db.actorTasks.start(id, "2026-03-01T10:00:00Z");
      await db.actorTasks.complete(id, new Date("2026-03-01T10:00:02.250Z"));
      expect(await db.actorTasks.get(id)).toMatchObject({
        status: "completed",
        startedAt: new Date("2026-03-01T10:00:00Z"),
        completedAt: new Date("2026-03-01T10:00:02.250Z"),
        durationSeconds: 2.25,
      });
    });

    it("fail from scheduled and from in_progress records the error", async () => {
      const a = await makeTask(db);
      await db.actorTasks.fail(a, "never started");
      expect(await db.actorTasks.get(a)).toMatchObject({
        status: "failed",
        errorMessage: "never started",
        durationSeconds: null,
      });
      const b = await makeTask(db);
      await db.actorTasks.start(b, "2026-03-01T10:00:00Z");
      await db.actorTasks.fail(b, "CUDA OOM", "2026-03-01T10:00:01Z");
      expect(await db.actorTasks.get(b)).toMatchObject({
        status: "failed",
        errorMessage: "CUDA OOM",
        durationSeconds: 1,
      });
    });

    it("transitions from the wrong state throw InvalidTransitionError and write nothing", async () => {
      const id = await makeTask(db);
      await expect(db.actorTasks.complete(id)).rejects.toBeInstanceOf(InvalidTransitionError);
      await db.actorTasks.start(id);
      const err = await db.actorTasks.start(id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidTransitionError);
      expect(err).toMatchObject({ from: "in_progress", to: "in_progress", id });
      await db.actorTasks.complete(id);
      const done = await db.actorTasks.get(id);
      await expect(db.actorTasks.fail(id, "late")).rejects.toBeInstanceOf(InvalidTransitionError);
      await expect(db.actorTasks.complete(id)).rejects.toBeInstanceOf(InvalidTransitionError);
      expect(await db.actorTasks.get(id)).toEqual(done);
      await expect(db.actorTasks.start(999_999)).rejects.toBeInstanceOf(NotFoundError);
      await expect(db.actorTasks.complete(999_999)).rejects.toBeInstanceOf(NotFoundError);
      await expect(db.actorTasks.fail(999_999, "x")).rejects.toBeInstanceOf(NotFoundError);
    });

    it("only one of many concurrent starts of one task wins", async () => {
      const id = await makeTask(db);
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => db.actorTasks.start(id)));
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(InvalidTransitionError);
    });

    it("claimNext hands each scheduled task of the experiment to exactly one actor, oldest first", async () => {
      const experimentId = await makeExperiment(db);
      const pipelineId = await makePipeline(db, { experimentId });
      const ids: number[] = [];
      for (let shard = 0; shard < 6; shard++)
        ids.push(await makeTask(db, { experimentId, pipelineId, shardId: shard }));
      await makeTask(db, {}); // another experiment's task is never claimed here
      const first = await db.actorTasks.claimNext(experimentId, 7, "2026-04-01T00:00:00Z");
      expect(first).toMatchObject({
        taskId: ids[0],
        actorId: 7,
        status: "in_progress",
        startedAt: new Date("2026-04-01T00:00:00Z"),
      });
      const claims = await Promise.all(
        Array.from({ length: 8 }, (_, actor) => db.actorTasks.claimNext(experimentId, actor)),
      );
      const got = claims.filter((c) => c !== null).map((c) => c!.taskId);
      expect(got.sort((a, b) => a - b)).toEqual(ids.slice(1));
      expect(await db.actorTasks.claimNext(experimentId, 0)).toBeNull();
      expect(await db.actorTasks.countByStatus(experimentId)).toEqual({
        scheduled: 0,
        in_progress: 6,
        completed: 0,
        failed: 0,
      });
      await db.actorTasks.complete(ids[0]!);
      expect((await db.actorTasks.countByStatus(experimentId)).completed).toBe(1);
    });

    it.each(ACTOR_TASK_STATUSES)("setStatus reaches %s along allowed moves", async (status) => {
      const id = await makeTask(db);
      for (const s of pathTo(ACTOR_TASK_TRANSITIONS, "scheduled", status)!) await db.actorTasks.setStatus(id, s);
      expect((await db.actorTasks.get(id))!.status).toBe(status);
    });

    it("setStartTime / setEndTime / setError", async () => {
      const id = await makeTask(db);
      await db.actorTasks.setStartTime(id, "2026-05-05T05:05:05Z");
      await db.actorTasks.setEndTime(id, "2026-05-05T05:05:15Z");
      expect((await db.actorTasks.get(id))!.durationSeconds).toBe(10);
      await db.actorTasks.setEndTime(id, "2026-05-05T05:05:20Z", 3.5);
      expect((await db.actorTasks.get(id))!.durationSeconds).toBe(3.5);
      await db.actorTasks.setError(id, "warning: slow shard");
      expect((await db.actorTasks.get(id))!.errorMessage).toBe("warning: slow shard");
      await expect(db.actorTasks.setError(999_999, "x")).rejects.toBeInstanceOf(NotFoundError);
      await expect(db.actorTasks.setStatus(id, "running" as never)).rejects.toBeInstanceOf(ValidationError);
    });

    it("create with a missing pipeline or experiment is NotFoundError; bad ids are ValidationError", async () => {
      const experimentId = await makeExperiment(db);
      const pipelineId = await makePipeline(db, { experimentId });
      await expect(
        db.actorTasks.create({ experimentId, pipelineId: 999_999, actorId: 0, shardId: 0 }),
      ).rejects.toBeInstanceOf(NotFoundError);
      await expect(
        db.actorTasks.create({ experimentId: 999_999, pipelineId, actorId: 0, shardId: 0 }),
      ).rejects.toBeInstanceOf(NotFoundError);
      await expect(db.actorTasks.create({ experimentId, pipelineId, actorId: -1, shardId: 0 })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(
        db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 0, status: "done" as never }),
      ).rejects.toBeInstanceOf(ValidationError);
    });
  });

  describe("IC operations", () => {
    it("creates pending operations; pipelineId required except for clone", async () => {
      const pipelineId = await makePipeline(db);
      for (const operation of IC_OPERATIONS) {
        const id = await db.icOperations.create({ operation, pipelineId, requestData: { why: operation } });
        expect(await db.icOperations.get(id)).toMatchObject({
          icId: id,
          operation,
          pipelineId,
          status: "pending",
          requestData: { why: operation },
          processedAt: null,
        });
      }
      const experimentId = (await db.pipelines.get(pipelineId))!.experimentId;
      const clone = await db.icOperations.create({
        operation: "clone",
        experimentId,
        requestData: { from: pipelineId },
      });
      expect(await db.icOperations.get(clone)).toMatchObject({ pipelineId: null, experimentId });
      await expect(db.icOperations.create({ operation: "stop" })).rejects.toBeInstanceOf(ValidationError);
      await expect(db.icOperations.create({ operation: "pause" as never, pipelineId })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(db.icOperations.create({ operation: "stop", pipelineId: 999_999 })).rejects.toBeInstanceOf(
        NotFoundError,
      );
      expect(await db.icOperations.get(999_999)).toBeNull();
    });

    it("listPending oldest first, listAll newest first, claimNext takes the oldest", async () => {
      await db.resetAllTables();
      const a = await makeIcOperation(db);
      const b = await makeIcOperation(db, { operation: "resume" });
      const c = await makeIcOperation(db, { operation: "clone" });
      expect((await db.icOperations.listPending()).map((o) => o.icId)).toEqual([a, b, c]);
      expect((await db.icOperations.listAll()).map((o) => o.icId)).toEqual([c, b, a]);
      const claimed = await db.icOperations.claimNext();
      expect(claimed).toMatchObject({ icId: a, status: "processing" });
      expect((await db.icOperations.listPending()).map((o) => o.icId)).toEqual([b, c]);
    });

    it("concurrent claimNext calls never return the same operation", async () => {
      await db.resetAllTables();
      const ids = [];
      for (let i = 0; i < 8; i++) ids.push(await makeIcOperation(db));
      const claims = await Promise.all(Array.from({ length: 12 }, () => db.icOperations.claimNext()));
      const claimed = claims.filter((c) => c !== null).map((c) => c!.icId);
      expect(claimed.sort((x, y) => x - y)).toEqual(ids);
      expect(claims.filter((c) => c === null)).toHaveLength(4);
      expect(await db.icOperations.claimNext()).toBeNull();
    });

    it.each(IC_STATUSES.filter((s) => s !== "pending"))(
      "setStatus reaches %s along allowed moves and sets processedAt",
      async (status) => {
        const id = await makeIcOperation(db);
        for (const s of pathTo(IC_TRANSITIONS, "pending", status)!) await db.icOperations.setStatus(id, s);
        const row = await db.icOperations.get(id);
        expect(row!.status).toBe(status);
        expect(row!.processedAt).toBeInstanceOf(Date);
      },
    );

    it("setStatus with an error; NotFoundError; ValidationError", async () => {
      const id = await makeIcOperation(db);
      await db.icOperations.setStatus(id, "failed", "pipeline already stopped");
      expect((await db.icOperations.get(id))!.error).toBe("pipeline already stopped");
      await expect(db.icOperations.setStatus(999_999, "failed")).rejects.toBeInstanceOf(NotFoundError);
      await expect(db.icOperations.setStatus(id, "done" as never)).rejects.toBeInstanceOf(ValidationError);
    });
  });

  describe("relations", () => {
    it("deleting an experiment removes its pipelines, tasks and their IC operations", async () => {
      const experimentId = await makeExperiment(db);
      const pipelineId = await makePipeline(db, { experimentId });
      const taskId = await makeTask(db, { experimentId, pipelineId });
      const icId = await makeIcOperation(db, { pipelineId });
      const keep = await makeIcOperation(db, { operation: "clone" });
      const { experiments } = await import("../src/schema");
      const { eq } = await import("drizzle-orm");
      await db.drizzle.delete(experiments).where(eq(experiments.experimentId, experimentId));
      expect(await db.pipelines.get(pipelineId)).toBeNull();
      expect(await db.actorTasks.get(taskId)).toBeNull();
      expect(await db.icOperations.get(icId)).toBeNull();
      expect(await db.icOperations.get(keep)).not.toBeNull();
    });

    it("deleting a context leaves its pipelines with contextId = null", async () => {
      const ctx = await makeContext(db);
      const pipelineId = await makePipeline(db, { contextId: ctx });
      const { contexts } = await import("../src/schema");
      const { eq } = await import("drizzle-orm");
      await db.drizzle.delete(contexts).where(eq(contexts.contextId, ctx));
      expect((await db.pipelines.get(pipelineId))!.contextId).toBeNull();
    });
  });

  describe("transactions", () => {
    it("commits everything together", async () => {
      const experimentId = await makeExperiment(db);
      const taskId = await db.transaction(async (tx) => {
        const pipelineId = await makePipeline(tx, { experimentId });
        const id = await tx.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 0 });
        await tx.actorTasks.start(id);
        return id;
      });
      expect((await db.actorTasks.get(taskId))!.status).toBe("in_progress");
    });

    it("rolls everything back when the callback throws, rethrowing the error as it was", async () => {
      const experimentId = await makeExperiment(db);
      class Boom extends Error {}
      const boom = new Boom("boom");
      await expect(
        db.transaction(async (tx) => {
          await makePipeline(tx, { experimentId });
          await tx.experiments.setStatus(experimentId, "failed");
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await db.pipelines.list(experimentId)).toEqual([]);
      expect((await db.experiments.get(experimentId))!.status).toBe("running");
    });

    it("rolls back when a repository call inside fails with a typed error", async () => {
      const experimentId = await makeExperiment(db);
      await expect(
        db.transaction(async (tx) => {
          await tx.experiments.setNumShards(experimentId, 99);
          await tx.actorTasks.start(999_999);
        }),
      ).rejects.toBeInstanceOf(NotFoundError);
      expect((await db.experiments.get(experimentId))!.numShards).toBe(8);
    });
  });

  describe("resets", () => {
    it("resetExperimentStates marks unfinished work failed and leaves finished work alone", async () => {
      await db.resetAllTables();
      const experimentId = await makeExperiment(db);
      const pipelineId = await makePipeline(db, { experimentId, status: "ongoing" });
      const donePipeline = await makePipeline(db, { experimentId, status: "completed" });
      const scheduled = await makeTask(db, { experimentId, pipelineId });
      const running = await makeTask(db, { experimentId, pipelineId });
      await db.actorTasks.start(running);
      const done = await makeTask(db, { experimentId, pipelineId });
      await db.actorTasks.start(done);
      await db.actorTasks.complete(done);
      const building = await makeContext(db, { status: "building" });
      const ready = await makeContext(db, { status: "ready" });
      const pendingOp = await makeIcOperation(db, { pipelineId });
      const counts = await db.resetExperimentStates();
      expect(counts).toEqual({ actorTasks: 2, pipelines: 1, contexts: 1, icOperations: 1 });
      expect((await db.actorTasks.get(scheduled))!.status).toBe("failed");
      expect((await db.actorTasks.get(running))!.status).toBe("failed");
      expect((await db.actorTasks.get(running))!.errorMessage).toMatch(/reset/);
      expect((await db.actorTasks.get(done))!.status).toBe("completed");
      expect((await db.pipelines.get(pipelineId))!.status).toBe("failed");
      expect((await db.pipelines.get(donePipeline))!.status).toBe("completed");
      expect((await db.contexts.get(building))!.status).toBe("failed");
      expect((await db.contexts.get(ready))!.status).toBe("ready");
      expect((await db.icOperations.get(pendingOp))!.status).toBe("failed");
    });

    it("resetAllTables keeps experiments unless asked", async () => {
      const experimentId = await makeExperiment(db);
      await makeTask(db, { experimentId });
      await db.resetAllTables();
      expect(await db.experiments.get(experimentId)).not.toBeNull();
      expect(await db.pipelines.list(experimentId)).toEqual([]);
      await db.resetAllTables({ experiments: true });
      expect(await db.experiments.get(experimentId)).toBeNull();
      expect(await db.experiments.listNames()).toEqual([]);
    });
  });

  it("every error is an RFDatabaseError with a code", async () => {
    const errors = await Promise.all([
      db.experiments.setStatus(1e9, "failed").catch((e: unknown) => e),
      db.experiments.setStatus(1, "x" as never).catch((e: unknown) => e),
      (async () => {
        const t = await makeTask(db);
        return db.actorTasks.complete(t).catch((e: unknown) => e);
      })(),
    ]);
    for (const e of errors) {
      expect(e).toBeInstanceOf(RFDatabaseError);
      expect((e as RFDatabaseError).code).toMatch(/^[A-Z_]+$/);
      expect((e as Error).name).toBe((e as Error).constructor.name);
    }
  });
});

describe.each(BACKENDS)("db.batch on %s", (backendName) => {
  it("runs drizzle queries atomically: all applied, or none when one fails", async () => {
    const backend = await openBackend(backendName);
    try {
      const db = backend.db;
      const { actorTasks, pipelines } = await import("../src/schema");
      const { eq, sql } = await import("drizzle-orm");
      const experimentId = await makeExperiment(db);
      const pipelineId = await makePipeline(db, { experimentId });
      const taskId = await makeTask(db, { experimentId, pipelineId });
      const [, progress] = await db.batch([
        // scheduled → in_progress: a move the transition trigger allows
        db.drizzle.update(actorTasks).set({ status: "in_progress" }).where(eq(actorTasks.taskId, taskId)),
        db.drizzle
          .update(pipelines)
          .set({ shardsCompleted: sql`${pipelines.shardsCompleted} + 1` })
          .where(eq(pipelines.pipelineId, pipelineId))
          .returning({ done: pipelines.shardsCompleted }),
      ]);
      expect(progress).toEqual([{ done: 1 }]);
      expect((await db.actorTasks.get(taskId))!.status).toBe("in_progress");
      await expect(
        db.batch([
          db.drizzle.update(pipelines).set({ shardsCompleted: 50 }).where(eq(pipelines.pipelineId, pipelineId)),
          db.drizzle.update(actorTasks).set({ status: sql`'bogus'` }).where(eq(actorTasks.taskId, taskId)),
        ]),
      ).rejects.toBeInstanceOf(ValidationError);
      expect((await db.pipelines.get(pipelineId))!.shardsCompleted).toBe(1);
    } finally {
      await backend.close();
    }
  });
});
