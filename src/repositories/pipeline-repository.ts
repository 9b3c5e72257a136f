import { asc, eq, sql } from "drizzle-orm";
import type { SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import { PIPELINE_STATUSES, pipelines, type Pipeline, type PipelineStatus } from "../schema";
import { ValidationError } from "../errors";
import * as v from "../validate";
import { BaseRepository, slot } from "./base-repository";

const p = sql.placeholder;

export interface CreatePipelineInput {
  experimentId: number;
  pipelineName: string;
  pipelineType: string;
  modelConfig: unknown;
  samplingParams: unknown;
  contextId?: number | null;
  /** Defaults to `new`. */
  status?: PipelineStatus;
}

export interface PipelineProgress {
  currentShardId: number;
  shardsCompleted: number;
  totalSamplesProcessed: number;
}

export interface AdvanceProgressInput {
  /** Shards finished by this call; default 1. */
  shards?: number;
  /** Samples processed by this call; default 0. */
  samples?: number;
  /** The shard the pipeline is now on; unchanged when omitted. */
  currentShardId?: number;
}

/** `db.pipelines`: one row per inference pipeline (a model × sampling configuration) of an experiment. */
export class PipelineRepository extends BaseRepository {
  /**
   * Creates a pipeline in an experiment; NotFoundError if the experiment (or context) does not exist.
   * @example const pid = await db.pipelines.create({ experimentId, pipelineName: "p0", pipelineType: "vllm",
   *   modelConfig: { model: "llama-3-8b" }, samplingParams: { temperature: 0.7 } });
   */
  async create(input: CreatePipelineInput): Promise<number> {
    const i = v.record(input, "input");
    const values = {
      experimentId: v.id(i.experimentId, "experimentId"),
      pipelineName: v.text(i.pipelineName, "pipelineName", { nonEmpty: true }),
      pipelineType: v.text(i.pipelineType, "pipelineType", { nonEmpty: true }),
      modelConfig: v.json(i.modelConfig, "modelConfig"),
      samplingParams: v.json(i.samplingParams, "samplingParams"),
      contextId: i.contextId === undefined || i.contextId === null ? null : v.id(i.contextId, "contextId"),
      status: i.status === undefined ? "new" : v.oneOf(i.status, PIPELINE_STATUSES, "status"),
    };
    if (values.modelConfig === null || values.samplingParams === null) {
      // The columns are NOT NULL; say so here rather than as a constraint failure.
      throw new ValidationError(`${values.modelConfig === null ? "modelConfig" : "samplingParams"} must not be null`, {
        field: values.modelConfig === null ? "modelConfig" : "samplingParams",
      });
    }
    const stmt = this.compiled("create", () =>
      this.db
        .insert(pipelines)
        .values({
          experimentId: p("experimentId"),
          pipelineName: p("pipelineName"),
          pipelineType: p("pipelineType"),
          modelConfig: p("modelConfig"),
          samplingParams: p("samplingParams"),
          contextId: p("contextId"),
          status: p("status"),
        })
        .prepare(),
    );
    const fk =
      values.contextId === null
        ? { entity: "experiment", id: values.experimentId }
        : { entity: "experiment or context", id: undefined };
    return this.insertedId(await this.settle(stmt.run(values), fk));
  }

  /**
   * The pipeline, or `null`.
   * @example const pl = await db.pipelines.get(pid); pl?.shardsCompleted
   */
  async get(id: number): Promise<Pipeline | null> {
    return this.findById(pipelines, pipelines.pipelineId, v.id(id, "pipelineId"));
  }

  /**
   * The experiment's pipelines, ordered by id (index `pipelines_experiment_idx`).
   * @example for (const pl of await db.pipelines.list(experimentId)) console.log(pl.pipelineName, pl.status);
   */
  async list(experimentId: number): Promise<Pipeline[]> {
    const eid = v.id(experimentId, "experimentId");
    const stmt = this.compiled("list", () =>
      this.db
        .select()
        .from(pipelines)
        .where(eq(pipelines.experimentId, p("experimentId")))
        .orderBy(asc(pipelines.pipelineId))
        .prepare(),
    );
    return this.settle(stmt.all({ experimentId: eid }));
  }

  /**
   * Sets the status (any of PIPELINE_STATUSES).
   * @example await db.pipelines.setStatus(pid, "ongoing");
   */
  async setStatus(id: number, status: PipelineStatus): Promise<void> {
    const pipelineId = v.id(id, "pipelineId");
    const s = v.oneOf(status, PIPELINE_STATUSES, "status");
    await this.update("setStatus", { status: slot("status") }, { id: pipelineId, status: s });
  }

  /**
   * Overwrites the progress counters (use `advanceProgress` when several actors report at once).
   * @example await db.pipelines.setProgress(pid, { currentShardId: 3, shardsCompleted: 3, totalSamplesProcessed: 1200 });
   */
  async setProgress(id: number, progress: PipelineProgress): Promise<void> {
    const pipelineId = v.id(id, "pipelineId");
    const pr = v.record(progress, "progress");
    const params = {
      id: pipelineId,
      currentShardId: v.count(pr.currentShardId, "currentShardId"),
      shardsCompleted: v.count(pr.shardsCompleted, "shardsCompleted"),
      totalSamplesProcessed: v.count(pr.totalSamplesProcessed, "totalSamplesProcessed"),
    };
    await this.update(
      "setProgress",
      {
        currentShardId: slot("currentShardId"),
        shardsCompleted: slot("shardsCompleted"),
        totalSamplesProcessed: slot("totalSamplesProcessed"),
      },
      params,
    );
  }

  /**
   * Atomically adds to the progress counters in one statement
   * (`SET shards_completed = shards_completed + ?`), so actors finishing
   * shards of one pipeline at the same moment never lose a count. Returns
   * the counters after the increment.
   * @example const { shardsCompleted } = await db.pipelines.advanceProgress(pid, { samples: 512, currentShardId: 7 });
   */
  async advanceProgress(
    id: number,
    delta: AdvanceProgressInput = {},
  ): Promise<{ shardsCompleted: number; totalSamplesProcessed: number }> {
    const pipelineId = v.id(id, "pipelineId");
    const d = v.record(delta, "delta");
    const params = {
      id: pipelineId,
      shards: d.shards === undefined ? 1 : v.count(d.shards, "shards"),
      samples: d.samples === undefined ? 0 : v.count(d.samples, "samples"),
      currentShardId: d.currentShardId === undefined ? null : v.count(d.currentShardId, "currentShardId"),
    };
    const stmt = this.compiled("advanceProgress", () =>
      this.db
        .update(pipelines)
        .set({
          shardsCompleted: sql`${pipelines.shardsCompleted} + ${p("shards")}`,
          totalSamplesProcessed: sql`${pipelines.totalSamplesProcessed} + ${p("samples")}`,
          currentShardId: sql`coalesce(${p("currentShardId")}, ${pipelines.currentShardId})`,
        })
        .where(eq(pipelines.pipelineId, p("id")))
        .returning({
          shardsCompleted: pipelines.shardsCompleted,
          totalSamplesProcessed: pipelines.totalSamplesProcessed,
        })
        .prepare(),
    );
    return this.found(await this.settle(stmt.get(params)), "pipeline", pipelineId);
  }

  /**
   * Records an error message on the pipeline.
   * @example await db.pipelines.setError(pid, "CUDA out of memory on shard 12");
   */
  async setError(id: number, error: string): Promise<void> {
    const pipelineId = v.id(id, "pipelineId");
    const message = v.text(error, "error");
    await this.update("setError", { error: slot("error") }, { id: pipelineId, error: message });
  }

  private update(
    key: string,
    set: SQLiteUpdateSetSource<typeof pipelines>,
    params: { id: number } & Record<string, unknown>,
  ) {
    return this.updateById(pipelines, pipelines.pipelineId, "pipeline", key, set, params);
  }
}
