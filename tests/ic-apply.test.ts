/**
 * Experiment-scoped, typed interactive control: every operation's
 * experiment, typed clone requests, dedupe keys, and `icOperations.apply` —
 * the operation's completion and its effect in one transaction, or its
 * failure with the reason and nothing else — on every backend.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  canonicalJson,
  InvalidTransitionError,
  NotFoundError,
  type PipelineStatus,
  type RFDatabase,
  ValidationError,
} from "../src/index";
import { BACKENDS, openBackend, type Backend } from "./support/backends";
import { makeExperiment, makePipeline } from "./support/factories";

describe.each(BACKENDS)("interactive control on %s", (backendName) => {
  let backend: Backend;
  let db: RFDatabase;
  /** A second connection to the same database where the backend has one (else the same). */
  let other: RFDatabase;
  beforeAll(async () => {
    backend = await openBackend(backendName);
    db = backend.db;
    other = backend.shared ? await backend.reopen() : db;
  });
  afterAll(async () => {
    await backend?.close();
  });

  /** A pipeline brought to `status` along allowed moves (the transition triggers refuse shortcuts). */
  const pipelineIn = async (status: PipelineStatus, extra: Record<string, unknown> = {}) => {
    const id = await makePipeline(db, extra);
    const p = db.pipelines;
    const path: Record<PipelineStatus, (() => Promise<void>)[]> = {
      new: [],
      ongoing: [() => p.start(id)],
      stopped: [() => p.stop(id)],
      completed: [() => p.start(id), () => p.complete(id)],
      failed: [() => p.fail(id, "x")],
      deleted: [() => p.delete(id)],
    };
    for (const step of path[status]) await step();
    return id;
  };
  const countPipelines = async () =>
    Number((await db.client.execute("select count(*) as n from pipelines")).rows[0]!.n);

  describe("create", () => {
    it("takes the experiment from the pipeline; a different experimentId is refused", async () => {
      const experimentId = await makeExperiment(db);
      const pipelineId = await makePipeline(db, { experimentId });
      const a = await db.icOperations.create({ operation: "stop", pipelineId });
      const b = await db.icOperations.create({ operation: "resume", pipelineId, experimentId });
      expect(await db.icOperations.get(a)).toMatchObject({ experimentId, pipelineId, status: "pending" });
      expect((await db.icOperations.get(b))!.experimentId).toBe(experimentId);
      const elsewhere = await makeExperiment(db);
      const before = (await db.icOperations.listAll()).length;
      await expect(
        db.icOperations.create({ operation: "stop", pipelineId, experimentId: elsewhere }),
      ).rejects.toMatchObject({ name: "ValidationError", field: "experimentId" });
      await expect(db.icOperations.create({ operation: "stop", pipelineId: 987_654 })).rejects.toBeInstanceOf(
        NotFoundError,
      );
      expect(await db.icOperations.listAll()).toHaveLength(before);
    });

    it("refuses an operation on a deleted pipeline", async () => {
      const pipelineId = await pipelineIn("deleted");
      await expect(db.icOperations.create({ operation: "resume", pipelineId })).rejects.toThrow(/deleted/);
    });

    it("stores a typed clone request: parent as pipelineId, the request in requestData", async () => {
      const experimentId = await makeExperiment(db);
      const parent = await makePipeline(db, { experimentId });
      const id = await db.icOperations.create({
        operation: "clone",
        experimentId,
        parentPipelineId: parent,
        config: { sampling_params: { temperature: 0.3 } },
        warmStart: true,
      });
      expect(await db.icOperations.get(id)).toMatchObject({
        operation: "clone",
        experimentId,
        pipelineId: parent,
        requestData: {
          parentPipelineId: parent,
          config: { sampling_params: { temperature: 0.3 } },
          warmStart: true,
          pipelineName: null,
        },
      });
      const derived = await db.icOperations.create({ operation: "clone", parentPipelineId: parent, config: {} });
      expect(await db.icOperations.get(derived)).toMatchObject({ experimentId, requestData: { warmStart: false } });
    });

    it("typed clone requests: bad shapes are ValidationErrors, nothing written", async () => {
      const experimentId = await makeExperiment(db);
      const parent = await makePipeline(db, { experimentId });
      const before = (await db.icOperations.listAll()).length;
      const bad: unknown[] = [
        { operation: "clone", experimentId, parentPipelineId: parent, config: [1] },
        { operation: "clone", experimentId, parentPipelineId: parent, config: "x" },
        { operation: "clone", experimentId, parentPipelineId: parent },
        { operation: "clone", experimentId, config: {} },
        { operation: "clone", experimentId, parentPipelineId: parent, config: {}, warmStart: "yes" },
        { operation: "clone", experimentId, parentPipelineId: parent, config: {}, pipelineId: parent },
        { operation: "clone", experimentId, parentPipelineId: parent, config: {}, requestData: {} },
        { operation: "clone" }, // neither a pipeline nor an experiment
      ];
      for (const input of bad)
        await expect(db.icOperations.create(input as never), JSON.stringify(input)).rejects.toBeInstanceOf(
          ValidationError,
        );
      await expect(
        db.icOperations.create({ operation: "clone", experimentId: 987_654, requestData: {} }),
      ).rejects.toBeInstanceOf(NotFoundError);
      expect(await db.icOperations.listAll()).toHaveLength(before);
    });

    it("dedupeKey: a live operation with the key is returned, not duplicated; a finished one frees the key", async () => {
      const pipelineId = await pipelineIn("ongoing");
      const key = `stop:${pipelineId}`;
      const first = await db.icOperations.create({ operation: "stop", pipelineId, dedupeKey: key });
      expect(await db.icOperations.create({ operation: "stop", pipelineId, dedupeKey: key })).toBe(first);
      const clicks = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          (i % 2 ? other : db).icOperations.create({ operation: "stop", pipelineId, dedupeKey: key }),
        ),
      );
      expect(new Set(clicks)).toEqual(new Set([first]));
      const rows = await db.client.execute({
        sql: "select count(*) as n from interactive_control where dedupe_key = ?",
        args: [key],
      });
      expect(Number(rows.rows[0]!.n)).toBe(1);
      // processing is still live
      await db.icOperations.claimNext();
      expect(await db.icOperations.create({ operation: "stop", pipelineId, dedupeKey: key })).toBe(first);
      await db.icOperations.apply(first);
      const second = await db.icOperations.create({ operation: "stop", pipelineId, dedupeKey: key });
      expect(second).not.toBe(first);
      expect(await db.icOperations.get(second)).toMatchObject({ status: "pending", dedupeKey: key });
      // no key: never deduplicated
      const x = await db.icOperations.create({ operation: "resume", pipelineId });
      const y = await db.icOperations.create({ operation: "resume", pipelineId });
      expect(x).not.toBe(y);
    });
  });

  describe("apply", () => {
    it.each([
      ["stop", "ongoing", "stopped"],
      ["stop", "new", "stopped"],
      ["resume", "stopped", "ongoing"],
      ["delete", "ongoing", "deleted"],
      ["delete", "completed", "deleted"],
      ["delete", "failed", "deleted"],
    ] as const)("%s moves a pipeline from %s to %s and completes the operation", async (operation, from, to) => {
      const pipelineId = await pipelineIn(from);
      const icId = await db.icOperations.create({ operation, pipelineId });
      expect(await db.icOperations.apply(icId)).toBe(pipelineId);
      expect((await db.pipelines.get(pipelineId))!.status).toBe(to);
      const op = await db.icOperations.get(icId);
      expect(op).toMatchObject({ status: "completed", error: null });
      expect(op!.processedAt).toBeInstanceOf(Date);
    });

    it("applies a claimed (processing) operation too", async () => {
      const pipelineId = await pipelineIn("ongoing");
      const icId = await db.icOperations.create({ operation: "stop", pipelineId });
      await db.client.execute({
        sql: "update interactive_control set status = 'processing' where ic_id = ?",
        args: [icId],
      });
      await db.icOperations.apply(icId);
      expect((await db.icOperations.get(icId))!.status).toBe("completed");
    });

    it.each([
      ["stop", "completed", /cannot move pipeline \d+ from "completed" to "stopped"/],
      ["stop", "stopped", /from "stopped" to "stopped"/],
      ["resume", "ongoing", /from "ongoing" to "ongoing"/],
      ["resume", "new", /from "new" to "ongoing"/],
      ["stop", "deleted", /pipeline \d+ is deleted: it accepts no IC operation/],
      ["resume", "deleted", /is deleted/],
      ["delete", "deleted", /is deleted/],
    ] as const)(
      "refuses %s of a %s pipeline: the operation fails with the reason, nothing else changes",
      async (operation, from, reason) => {
        const pipelineId = await pipelineIn(from === "deleted" ? "ongoing" : from);
        const icId = await db.icOperations.create({ operation, pipelineId });
        if (from === "deleted") await db.pipelines.delete(pipelineId);
        const pipelineBefore = await db.pipelines.get(pipelineId);
        await expect(db.icOperations.apply(icId)).rejects.toBeInstanceOf(InvalidTransitionError);
        expect(await db.pipelines.get(pipelineId)).toEqual(pipelineBefore);
        const op = await db.icOperations.get(icId);
        expect(op!.status).toBe("failed");
        expect(op!.error).toMatch(reason);
        expect(op!.processedAt).toBeInstanceOf(Date);
      },
    );

    it("an operation that is not live, or missing, is refused and nothing is written", async () => {
      const pipelineId = await pipelineIn("ongoing");
      const icId = await db.icOperations.create({ operation: "stop", pipelineId });
      await db.icOperations.apply(icId);
      const done = await db.icOperations.get(icId);
      const pipeline = await db.pipelines.get(pipelineId);
      await expect(db.icOperations.apply(icId)).rejects.toBeInstanceOf(InvalidTransitionError);
      expect(await db.icOperations.get(icId)).toEqual(done);
      expect(await db.pipelines.get(pipelineId)).toEqual(pipeline);
      await expect(db.icOperations.apply(987_654)).rejects.toBeInstanceOf(NotFoundError);
      await expect(db.icOperations.apply(-1)).rejects.toBeInstanceOf(ValidationError);
      const cancelled = await db.icOperations.create({ operation: "resume", pipelineId });
      await db.icOperations.setStatus(cancelled, "cancelled");
      await expect(db.icOperations.apply(cancelled)).rejects.toThrow(/"cancelled"/);
      expect((await db.pipelines.get(pipelineId))!.status).toBe("stopped");
    });

    it("clone: the child pipeline with lineage and the merged configuration; returns its id", async () => {
      const experimentId = await makeExperiment(db);
      const contextId = await db.contexts.create({ contextHash: `ic-clone-${backendName}-${Date.now()}` });
      const parent = await db.pipelines.create({
        experimentId,
        contextId,
        pipelineName: "qwen-base",
        pipelineType: "vllm",
        pipelineConfig: "gASV-opaque-payload",
        modelConfig: { model: "Qwen/Qwen2.5-3B-Instruct" },
        samplingParams: { temperature: 0 },
        configJson: {
          batch_size: 8,
          model_config: { model: "Qwen/Qwen2.5-3B-Instruct", dtype: "half" },
          sampling_params: { temperature: 0, top_p: 1 },
        },
        metricRunId: `parent-run-${backendName}`,
      });
      const icId = await db.icOperations.create({
        operation: "clone",
        experimentId,
        parentPipelineId: parent,
        config: { sampling_params: { temperature: 0.9 }, batch_size: 16 },
      });
      const child = await db.icOperations.apply(icId);
      expect(child).not.toBe(parent);
      const row = (await db.pipelines.get(child))!;
      const configJson = {
        batch_size: 16,
        model_config: { model: "Qwen/Qwen2.5-3B-Instruct", dtype: "half" },
        sampling_params: { temperature: 0.9, top_p: 1 },
      };
      const flat = {
        batch_size: 16,
        "model_config.model": "Qwen/Qwen2.5-3B-Instruct",
        "model_config.dtype": "half",
        "sampling_params.temperature": 0.9,
        "sampling_params.top_p": 1,
      };
      expect(row).toMatchObject({
        experimentId,
        contextId,
        parentPipelineId: parent,
        source: "clone",
        status: "new",
        pipelineName: "qwen-base (clone)",
        pipelineType: "vllm",
        pipelineConfig: "gASV-opaque-payload",
        modelConfig: { model: "Qwen/Qwen2.5-3B-Instruct" },
        samplingParams: { temperature: 0 },
        configJson,
        flattenedConfig: flat,
        metricRunId: null,
        shardsCompleted: 0,
      });
      const { createHash } = await import("node:crypto");
      expect(row.configHash).toBe(createHash("sha256").update(canonicalJson(flat)).digest("hex"));
      expect(await db.icOperations.get(icId)).toMatchObject({ status: "completed" });
      expect((await db.pipelines.lineage(child)).map((e) => [e.pipelineId, e.depth])).toEqual([
        [parent, -1],
        [child, 0],
      ]);
      // a clone of the clone, named
      const again = await db.icOperations.create({
        operation: "clone",
        parentPipelineId: child,
        config: { model_config: { dtype: "bfloat16" } },
        pipelineName: "bf16",
      });
      const grandchild = await db.icOperations.apply(again);
      expect(await db.pipelines.get(grandchild)).toMatchObject({
        pipelineName: "bf16",
        configJson: { ...configJson, model_config: { model: "Qwen/Qwen2.5-3B-Instruct", dtype: "bfloat16" } },
      });
      expect((await db.pipelines.lineage(parent)).map((e) => e.depth)).toEqual([0, 1, 2]);
    });

    it("clone of a deleted parent: the operation fails with the reason, no pipeline is created", async () => {
      const parent = await pipelineIn("ongoing");
      const icId = await db.icOperations.create({ operation: "clone", parentPipelineId: parent, config: { a: 1 } });
      await db.pipelines.delete(parent);
      const count = await countPipelines();
      await expect(db.icOperations.apply(icId)).rejects.toBeInstanceOf(InvalidTransitionError);
      expect(await countPipelines()).toBe(count);
      expect(await db.icOperations.get(icId)).toMatchObject({
        status: "failed",
        error: `parent pipeline ${parent} is deleted: it accepts no IC operation`,
      });
    });

    it("clone requests written by the Python module (parent only in request_data) are applied too", async () => {
      const experimentId = await makeExperiment(db);
      const parent = await makePipeline(db, { experimentId, configJson: { sampling_params: { temperature: 0 } } });
      const icId = await db.icOperations.create({
        operation: "clone",
        experimentId,
        requestData: {
          parent_pipeline_id: parent,
          config: { sampling_params: { temperature: 0.9 } },
          warm_start: false,
        },
      });
      const child = await db.icOperations.apply(icId);
      expect(await db.pipelines.get(child)).toMatchObject({
        parentPipelineId: parent,
        configJson: { sampling_params: { temperature: 0.9 } },
      });
      const orphan = await db.icOperations.create({ operation: "clone", experimentId, requestData: { nothing: 1 } });
      const count = await countPipelines();
      await expect(db.icOperations.apply(orphan)).rejects.toBeInstanceOf(NotFoundError);
      expect(await db.icOperations.get(orphan)).toMatchObject({
        status: "failed",
        error: "the clone request names no parent pipeline",
      });
      expect(await countPipelines()).toBe(count);
    });

    it("concurrent double apply: exactly one succeeds, one effect", async () => {
      for (let round = 0; round < 5; round++) {
        const pipelineId = await pipelineIn("ongoing");
        const stop = await db.icOperations.create({ operation: "stop", pipelineId });
        const clone = await db.icOperations.create({
          operation: "clone",
          parentPipelineId: pipelineId,
          config: { r: round },
        });
        const count = await countPipelines();
        for (const icId of [stop, clone]) {
          const results = await Promise.allSettled([db.icOperations.apply(icId), other.icOperations.apply(icId)]);
          const ok = results.filter((r) => r.status === "fulfilled");
          const refused = results.filter((r) => r.status === "rejected");
          expect(ok, `round ${round}, op ${icId}`).toHaveLength(1);
          expect((refused[0] as PromiseRejectedResult).reason).toBeInstanceOf(InvalidTransitionError);
          expect((await db.icOperations.get(icId))!.status).toBe("completed");
        }
        expect(await countPipelines()).toBe(count + 1); // one child, not two
        expect((await db.pipelines.get(pipelineId))!.status).toBe("stopped");
      }
    });

    it("inside db.transaction: rolled back with it", async () => {
      const pipelineId = await pipelineIn("ongoing");
      const icId = await db.icOperations.create({ operation: "stop", pipelineId });
      const boom = new Error("changed my mind");
      await expect(
        db.transaction(async (tx) => {
          await tx.icOperations.apply(icId);
          expect((await tx.pipelines.get(pipelineId))!.status).toBe("stopped");
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect((await db.pipelines.get(pipelineId))!.status).toBe("ongoing");
      expect((await db.icOperations.get(icId))!.status).toBe("pending");
    });
  });
});
