/**
 * RapidFire's current run model (upstream 6dd53c1): what a port of today's
 * dispatcher reads and writes — metric ids, fractional resources per actor,
 * the experiment mode, opaque and JSON pipeline configs with their flattened
 * view and hash, metric run ids, lineage — on every backend of the matrix.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson, NotFoundError, type RFDatabase, ValidationError } from "../src/index";
import { BACKENDS, openBackend, type Backend } from "./support/backends";
import { makeExperiment, makePipeline } from "./support/factories";

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

describe.each(BACKENDS)("run model on %s", (backendName) => {
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
    it("stores the metric experiment id, fractional resources per actor and the mode", async () => {
      const id = await db.experiments.create({
        experimentName: "rag-sweep",
        numActors: 3,
        numCpusPerActor: 3.75,
        numGpusPerActor: 0.5,
        metricExperimentId: "mlflow-17",
        experimentMode: "evals",
      });
      expect(await db.experiments.get(id)).toMatchObject({
        numActors: 3,
        numCpusPerActor: 3.75,
        numGpusPerActor: 0.5,
        metricExperimentId: "mlflow-17",
        mlflowExperimentId: "mlflow-17",
        experimentMode: "evals",
      });
    });

    it("defaults: mode evals, no per-actor resources, no metric id", async () => {
      const id = await db.experiments.create({ experimentName: "plain", numActors: 1 });
      expect(await db.experiments.get(id)).toMatchObject({
        experimentMode: "evals",
        numCpusPerActor: null,
        numGpusPerActor: null,
        metricExperimentId: null,
        mlflowExperimentId: null,
      });
    });

    it("mlflowExperimentId is an alias of metricExperimentId; both given must agree", async () => {
      const a = await db.experiments.create({ experimentName: "alias", numActors: 1, mlflowExperimentId: "m-1" });
      expect(await db.experiments.get(a)).toMatchObject({ metricExperimentId: "m-1", mlflowExperimentId: "m-1" });
      const b = await db.experiments.create({
        experimentName: "alias",
        numActors: 1,
        mlflowExperimentId: "m-2",
        metricExperimentId: "m-2",
      });
      expect((await db.experiments.get(b))!.metricExperimentId).toBe("m-2");
      const before = await db.experiments.getLatest();
      await expect(
        db.experiments.create({ experimentName: "x", numActors: 1, mlflowExperimentId: "a", metricExperimentId: "b" }),
      ).rejects.toBeInstanceOf(ValidationError);
      expect((await db.experiments.getLatest())!.experimentId).toBe(before!.experimentId);
    });

    it("refuses negative, infinite or non-numeric resources and an empty mode; nothing written", async () => {
      const before = (await db.experiments.getLatest())!.experimentId;
      for (const bad of [
        { numGpusPerActor: -0.5 },
        { numCpusPerActor: Number.POSITIVE_INFINITY },
        { numCpusPerActor: Number.NaN },
        { numGpusPerActor: "0.5" },
        { experimentMode: "" },
      ]) {
        await expect(db.experiments.create({ experimentName: "bad", numActors: 1, ...bad } as never)).rejects.toThrow(
          ValidationError,
        );
      }
      expect((await db.experiments.getLatest())!.experimentId).toBe(before);
    });

    it("setResources changes what is given, keeps what is omitted, clears with null", async () => {
      const id = await db.experiments.create({
        experimentName: "resize",
        numActors: 2,
        numCpusPerActor: 4,
        numGpusPerActor: 1,
      });
      await db.experiments.setResources(id, { numGpusPerActor: 0.25 });
      expect(await db.experiments.get(id)).toMatchObject({ numActors: 2, numCpusPerActor: 4, numGpusPerActor: 0.25 });
      await db.experiments.setResources(id, { numActors: 8, numCpusPerActor: 1.5 });
      expect(await db.experiments.get(id)).toMatchObject({ numActors: 8, numCpusPerActor: 1.5, numGpusPerActor: 0.25 });
      await db.experiments.setResources(id, { numCpusPerActor: null, numGpusPerActor: 0 });
      expect(await db.experiments.get(id)).toMatchObject({ numActors: 8, numCpusPerActor: null, numGpusPerActor: 0 });
    });

    it("setResources: typed errors, nothing written", async () => {
      const id = await db.experiments.create({ experimentName: "resize-bad", numActors: 2, numGpusPerActor: 1 });
      await expect(db.experiments.setResources(id, {})).rejects.toBeInstanceOf(ValidationError);
      await expect(db.experiments.setResources(id, { numGpusPerActor: -1 })).rejects.toBeInstanceOf(ValidationError);
      await expect(db.experiments.setResources(id, { numActors: 1.5 })).rejects.toBeInstanceOf(ValidationError);
      await expect(db.experiments.setResources(id, null as never)).rejects.toBeInstanceOf(ValidationError);
      await expect(db.experiments.setResources(987_654, { numActors: 1 })).rejects.toBeInstanceOf(NotFoundError);
      expect(await db.experiments.get(id)).toMatchObject({ numActors: 2, numGpusPerActor: 1 });
    });

    it("getLatest is the newest whatever its status; getRunningOrLatest prefers a running one", async () => {
      const running = await makeExperiment(db);
      const done = await makeExperiment(db, { status: "completed" });
      expect((await db.experiments.getLatest())!.experimentId).toBe(done);
      expect((await db.experiments.getRunningOrLatest())!.experimentId).toBe(running);
      await db.experiments.setStatus(running, "cancelled");
      const others = await db.experiments.getCurrent();
      expect((await db.experiments.getRunningOrLatest())!.experimentId).toBe(others?.experimentId ?? done);
    });
  });

  describe("pipelines", () => {
    it("needs only an experiment and a type; the rest is null", async () => {
      const experimentId = await makeExperiment(db);
      const id = await db.pipelines.create({ experimentId, pipelineType: "vllm" });
      expect(await db.pipelines.get(id)).toMatchObject({
        pipelineName: null,
        modelConfig: null,
        samplingParams: null,
        pipelineConfig: null,
        configJson: null,
        flattenedConfig: null,
        configHash: null,
        metricRunId: null,
        parentPipelineId: null,
        source: null,
        status: "new",
      });
    });

    it("returns pipelineConfig byte for byte", async () => {
      const experimentId = await makeExperiment(db);
      const payloads = [
        "gASVxAAAAAAAAACMCGJ1aWx0aW5zlIwEZGljdJSTlCmBlH0=",
        "  leading and trailing spaces \r\n\ttabs  ",
        "unicode: Ωmega 😀 \u2028 é (NFD: e\u0301)",
        "",
        "x".repeat(300_000),
      ];
      for (const pipelineConfig of payloads) {
        const id = await db.pipelines.create({ experimentId, pipelineType: "vllm", pipelineConfig });
        expect((await db.pipelines.get(id))!.pipelineConfig).toBe(pipelineConfig);
      }
    });

    it("computes the flattened config from configJson, and its hash over canonical JSON", async () => {
      const experimentId = await makeExperiment(db);
      const configJson = {
        pipeline_type: "vllm",
        batch_size: 8,
        model_config: { model: "Qwen/Qwen2.5-3B-Instruct", dtype: "half" },
        sampling_params: { temperature: 0.7, stop: ["\n\n"] },
        rag_config: { search_cfg: { type: "mmr", k: 5, lambda_mult: 0.5 } },
      };
      const id = await db.pipelines.create({ experimentId, pipelineType: "vllm", configJson });
      const row = (await db.pipelines.get(id))!;
      expect(row.configJson).toEqual(configJson);
      const flat = {
        pipeline_type: "vllm",
        batch_size: 8,
        "model_config.model": "Qwen/Qwen2.5-3B-Instruct",
        "model_config.dtype": "half",
        "sampling_params.temperature": 0.7,
        "sampling_params.stop": ["\n\n"],
        "rag_config.search_cfg.type": "mmr",
        "rag_config.search_cfg.k": 5,
        "rag_config.search_cfg.lambda_mult": 0.5,
      };
      expect(row.flattenedConfig).toEqual(flat);
      expect(row.configHash).toBe(sha256(canonicalJson(flat)));
      expect(row.configHash).toMatch(/^[0-9a-f]{64}$/);
      // Key order does not change the hash.
      const reordered = Object.fromEntries(Object.entries(configJson).reverse());
      const again = await db.pipelines.create({ experimentId, pipelineType: "vllm", configJson: reordered });
      expect((await db.pipelines.get(again))!.configHash).toBe(row.configHash);
    });

    it("stores a given flattened config as is; refuses a nested one and a wrong hash", async () => {
      const experimentId = await makeExperiment(db);
      const flattenedConfig = { "model_config.model": "m", batch_size: 16, "sampling_params.stop": ["a"] };
      const id = await db.pipelines.create({
        experimentId,
        pipelineType: "api",
        configJson: { something: { else: 1 } },
        flattenedConfig,
      });
      const row = (await db.pipelines.get(id))!;
      expect(row.flattenedConfig).toEqual(flattenedConfig);
      expect(row.configHash).toBe(sha256(canonicalJson(flattenedConfig)));
      const ok = await db.pipelines.create({
        experimentId,
        pipelineType: "api",
        flattenedConfig,
        configHash: row.configHash,
      });
      expect((await db.pipelines.get(ok))!.configHash).toBe(row.configHash);
      const count = (await db.pipelines.list(experimentId)).length;
      await expect(
        db.pipelines.create({ experimentId, pipelineType: "api", flattenedConfig: { a: { b: 1 } } }),
      ).rejects.toBeInstanceOf(ValidationError);
      await expect(
        db.pipelines.create({ experimentId, pipelineType: "api", flattenedConfig: [1, 2] }),
      ).rejects.toBeInstanceOf(ValidationError);
      await expect(
        db.pipelines.create({ experimentId, pipelineType: "api", flattenedConfig, configHash: "0".repeat(64) }),
      ).rejects.toBeInstanceOf(ValidationError);
      expect(await db.pipelines.list(experimentId)).toHaveLength(count);
    });

    it("metricRunId is unique: a duplicate is a ValidationError naming the pipeline that has it", async () => {
      const experimentId = await makeExperiment(db);
      const a = await db.pipelines.create({ experimentId, pipelineType: "vllm", metricRunId: "run-a" });
      expect((await db.pipelines.getByMetricRunId("run-a"))!.pipelineId).toBe(a);
      const dup = db.pipelines.create({ experimentId, pipelineType: "vllm", metricRunId: "run-a" });
      await expect(dup).rejects.toBeInstanceOf(ValidationError);
      await expect(dup).rejects.toThrow(new RegExp(`run-a.*pipeline ${a}`));
      await expect(dup).rejects.toMatchObject({ field: "metricRunId" });
      expect(await db.pipelines.list(experimentId)).toHaveLength(1);

      const b = await db.pipelines.create({ experimentId, pipelineType: "vllm" });
      await expect(db.pipelines.setMetricRunId(b, "run-a")).rejects.toMatchObject({ field: "metricRunId" });
      expect((await db.pipelines.get(b))!.metricRunId).toBeNull();
      await db.pipelines.setMetricRunId(b, "run-b");
      expect((await db.pipelines.getByMetricRunId("run-b"))!.pipelineId).toBe(b);
      await db.pipelines.setMetricRunId(a, null); // frees run-a
      await db.pipelines.setMetricRunId(b, "run-a");
      expect((await db.pipelines.getByMetricRunId("run-a"))!.pipelineId).toBe(b);
      expect(await db.pipelines.getByMetricRunId("run-b")).toBeNull();
      await expect(db.pipelines.setMetricRunId(987_654, "run-z")).rejects.toBeInstanceOf(NotFoundError);
      await expect(db.pipelines.setMetricRunId(b, "")).rejects.toBeInstanceOf(ValidationError);
      await expect(db.pipelines.getByMetricRunId(42 as never)).rejects.toBeInstanceOf(ValidationError);
    });

    it("setCurrentShard moves the shard only", async () => {
      const id = await makePipeline(db);
      await db.pipelines.setProgress(id, { currentShardId: 1, shardsCompleted: 1, totalSamplesProcessed: 10 });
      await db.pipelines.setCurrentShard(id, 7);
      expect(await db.pipelines.get(id)).toMatchObject({
        currentShardId: 7,
        shardsCompleted: 1,
        totalSamplesProcessed: 10,
      });
      await expect(db.pipelines.setCurrentShard(id, -1)).rejects.toBeInstanceOf(ValidationError);
      await expect(db.pipelines.setCurrentShard(987_654, 1)).rejects.toBeInstanceOf(NotFoundError);
    });

    it("listSummaries: the experiment's pipelines by id, without any configuration column", async () => {
      const experimentId = await makeExperiment(db);
      const ids = [];
      for (let i = 0; i < 3; i++)
        ids.push(
          await db.pipelines.create({
            experimentId,
            pipelineType: "vllm",
            pipelineName: `p${i}`,
            configJson: { k: i },
            pipelineConfig: "opaque",
            metricRunId: `sum-${experimentId}-${i}`,
          }),
        );
      await db.pipelines.advanceProgress(ids[1]!, { samples: 5, currentShardId: 2 });
      const summaries = await db.pipelines.listSummaries(experimentId);
      expect(summaries.map((s) => s.pipelineId)).toEqual(ids);
      expect(Object.keys(summaries[0]!).sort()).toEqual(
        [
          "currentShardId",
          "experimentId",
          "metricRunId",
          "parentPipelineId",
          "pipelineId",
          "pipelineName",
          "pipelineType",
          "shardsCompleted",
          "source",
          "status",
          "totalSamplesProcessed",
          "updatedAt",
        ].sort(),
      );
      expect(summaries[1]).toMatchObject({ shardsCompleted: 1, totalSamplesProcessed: 5, currentShardId: 2 });
      expect(summaries[1]!.updatedAt).toBeInstanceOf(Date);
      expect(await db.pipelines.listSummaries(987_654)).toEqual([]);
    });

    it("lineage: ancestors from the root, the pipeline, then descendants breadth first", async () => {
      const experimentId = await makeExperiment(db);
      const make = (parentPipelineId: number | null, name: string) =>
        db.pipelines.create({ experimentId, pipelineType: "vllm", pipelineName: name, parentPipelineId });
      const root = await make(null, "root");
      const child = await make(root, "child");
      const sibling = await make(root, "sibling");
      const grandchild = await make(child, "grandchild");
      const great = await make(grandchild, "great");
      const nephew = await make(sibling, "nephew");

      const line = await db.pipelines.lineage(child);
      expect(line.map((e) => [e.pipelineId, e.depth])).toEqual([
        [root, -1],
        [child, 0],
        [grandchild, 1],
        [great, 2],
      ]);
      expect(line[0]).toMatchObject({ pipelineName: "root", parentPipelineId: null });
      expect((await db.pipelines.lineage(root)).map((e) => [e.pipelineId, e.depth])).toEqual([
        [root, 0],
        [child, 1],
        [sibling, 1],
        [grandchild, 2],
        [nephew, 2],
        [great, 3],
      ]);
      expect((await db.pipelines.lineage(great)).map((e) => e.depth)).toEqual([-3, -2, -1, 0]);
      expect(await db.pipelines.lineage(987_654)).toEqual([]);
      await expect(make(987_654, "orphan")).rejects.toBeInstanceOf(NotFoundError);
    });

    it("lineage ends on a cycle written by raw SQL", async () => {
      const experimentId = await makeExperiment(db);
      const a = await db.pipelines.create({ experimentId, pipelineType: "vllm" });
      const b = await db.pipelines.create({ experimentId, pipelineType: "vllm", parentPipelineId: a });
      await db.client.execute({
        sql: "update pipelines set parent_pipeline_id = ? where pipeline_id = ?",
        args: [b, a],
      });
      const line = await db.pipelines.lineage(a);
      expect(line.map((e) => [e.pipelineId, e.depth])).toEqual([
        [b, -1],
        [a, 0],
        [b, 1],
      ]);
      await db.client.execute({
        sql: "update pipelines set parent_pipeline_id = ? where pipeline_id = ?",
        args: [a, a],
      });
      expect((await db.pipelines.lineage(a)).map((e) => [e.pipelineId, e.depth])).toEqual([
        [a, 0],
        [b, 1],
      ]);
    });
  });
});
