import { and, asc, eq, gte, sql } from "drizzle-orm";
import { ValidationError } from "../errors";
import { PIPELINE_STATUSES, PIPELINE_TRANSITIONS, pipelines, type Pipeline, type PipelineStatus } from "../schema";
import { statusesLeadingTo } from "../schema/transitions";
import * as v from "../validate";
import { slot } from "./base-repository";
import { defineEntity } from "./entity";
import { field, type InputOf, inputSpec } from "./input";
import { LifecycleRepository } from "./lifecycle";
import { type PageOptions, pageOf } from "./paging";
import { configViews } from "./pipeline-config";
import { type LineageEntry, lineageQuery, type PipelineSummary, summaryFields } from "./pipeline-summary";
import { updateOf } from "./update";

const p = sql.placeholder;

/** The pipeline entity (see entity.ts). */
export const pipelineEntity = defineEntity(pipelines, {
  key: "pipelines",
  name: "pipeline",
  unfinished: ["new", "ongoing"],
  transitions: PIPELINE_TRANSITIONS,
});

/**
 * `pipelines.create`'s input; the status default (`new`) is the schema's.
 * The run model (RapidFire 6dd53c1) describes a pipeline by `pipelineConfig`
 * (opaque), `configJson` and its flattened view; the first release's
 * `pipelineName`, `modelConfig` and `samplingParams` are optional.
 */
export const pipelineInput = inputSpec(pipelines, {
  experimentId: field.id(),
  pipelineType: field.text({ nonEmpty: true }),
  pipelineName: field.text({ nonEmpty: true }).nullable(),
  modelConfig: field.json().optional(),
  samplingParams: field.json().optional(),
  contextId: field.id().nullable(),
  /** Defaults to `new`. */
  status: field.oneOf(PIPELINE_STATUSES).optional(),
  /** The full configuration as the caller encodes it (RapidFire: base64 of dill): stored and returned unchanged. */
  pipelineConfig: field.text().nullable(),
  /** The JSON-serialisable configuration (analytics, display, clones). */
  configJson: field.json().optional(),
  /** Dotted keys → leaf values; computed from `configJson` when omitted (pipeline-config.ts). */
  flattenedConfig: field.json().optional(),
  /** Derived: sha256 of the canonical flattened configuration. Given, it must equal what is derived. */
  configHash: field.text().nullable(),
  /** The metric logger's run id; unique among pipelines. */
  metricRunId: field.text({ nonEmpty: true }).nullable(),
  /** The pipeline this one was cloned from. */
  parentPipelineId: field.id().nullable(),
  /** Where the pipeline came from (`user`, `clone`, `import` …). */
  source: field.text({ nonEmpty: true }).nullable(),
});
export interface CreatePipelineInput extends InputOf<typeof pipelineInput> {}

/** `setProgress`'s counters. */
export const progressInput = inputSpec(null, {
  currentShardId: field.count(),
  shardsCompleted: field.count(),
  totalSamplesProcessed: field.count(),
});
export interface PipelineProgress extends InputOf<typeof progressInput> {}

/** `advanceProgress`'s (and `actorTasks.completeWithProgress`'s) increments. */
export const progressDeltaInput = inputSpec(null, {
  /** Shards finished by this call; default 1. */
  shards: field.count().optional(1),
  /** Samples processed by this call; default 0. */
  samples: field.count().optional(0),
  /** The shard the pipeline is now on; unchanged when omitted. */
  currentShardId: field.count().optional(),
});
export interface AdvanceProgressInput extends InputOf<typeof progressDeltaInput> {}

/**
 * The SET of a progress increment — `shards_completed + :shards`,
 * `total_samples_processed + :samples`, `coalesce(:currentShardId, current_shard_id)` —
 * atomic in one statement, so actors finishing shards of one pipeline at once never lose a count.
 */
export function progressIncrement() {
  return {
    shardsCompleted: sql`${pipelines.shardsCompleted} + ${p("shards")}`,
    totalSamplesProcessed: sql`${pipelines.totalSamplesProcessed} + ${p("samples")}`,
    currentShardId: sql`coalesce(${p("currentShardId")}, ${pipelines.currentShardId})`,
  };
}

/**
 * The named moves: target status and the statuses each starts from — all
 * that PIPELINE_TRANSITIONS allows into the target, except `start` (only a
 * new pipeline) and `resume` (only a stopped one). Checked against the table
 * when the module loads, so a move can never allow what the table (and the
 * database's trigger) refuses.
 */
const MOVES = {
  start: { to: "ongoing", from: ["new"] },
  resume: { to: "ongoing", from: ["stopped"] },
  stop: { to: "stopped", from: statusesLeadingTo(PIPELINE_TRANSITIONS, "stopped") },
  complete: { to: "completed", from: statusesLeadingTo(PIPELINE_TRANSITIONS, "completed") },
  delete: { to: "deleted", from: statusesLeadingTo(PIPELINE_TRANSITIONS, "deleted") },
  fail: { to: "failed", from: statusesLeadingTo(PIPELINE_TRANSITIONS, "failed") },
} as const satisfies Record<string, { to: PipelineStatus; from: readonly PipelineStatus[] }>;
for (const [name, m] of Object.entries(MOVES))
  for (const from of m.from)
    if (!(PIPELINE_TRANSITIONS[from] as readonly string[]).includes(m.to))
      throw new Error(`rf-inferno-db: pipelines.${name} moves ${from} -> ${m.to}, which PIPELINE_TRANSITIONS refuses`);

/** The named moves (target and start statuses), for `icOperations.apply`'s stop, resume and delete. */
export const PIPELINE_MOVES = MOVES;

/** `db.pipelines`: one row per inference pipeline (a model × sampling configuration) of an experiment. */
export class PipelineRepository extends LifecycleRepository<typeof pipelineEntity> {
  protected readonly entity = pipelineEntity;

  /**
   * Creates a pipeline in an experiment; NotFoundError if the experiment (or context) does not exist.
   * @example const pid = await db.pipelines.create({ experimentId, pipelineName: "p0", pipelineType: "vllm",
   *   modelConfig: { model: "llama-3-8b" }, samplingParams: { temperature: 0.7 } });
   */
  async create(input: CreatePipelineInput): Promise<number> {
    const values = pipelineInput.parse(input);
    const views = await configViews(values.configJson, values.flattenedConfig, this.options.redactKeys);
    if (values.configHash !== null && values.configHash !== views.configHash) {
      throw new ValidationError(
        `configHash ${JSON.stringify(values.configHash)} is not the hash of the flattened configuration (${views.configHash}); omit it to have it derived`,
        { field: "configHash" },
      );
    }
    const fk =
      values.contextId === null && values.parentPipelineId === null
        ? { entity: "experiment", id: values.experimentId }
        : { entity: "experiment, context or parent pipeline", id: undefined };
    return this.#uniqueRun(values.metricRunId, this.insert(pipelineInput, { ...values, ...views }, fk));
  }

  /**
   * Records the metric logger's run id of the pipeline (null clears it); a
   * run id already used by another pipeline is a ValidationError naming it.
   * @example await db.pipelines.setMetricRunId(pid, "9f1c0e…");
   */
  async setMetricRunId(id: number, runId: string | null): Promise<void> {
    const pipelineId = v.id(id, "pipelineId");
    const metricRunId = runId === null ? null : v.text(runId, "runId", { nonEmpty: true });
    const set = () => ({ metricRunId: slot("runId") });
    await this.#uniqueRun(metricRunId, this.updateById("setMetricRunId", set, { id: pipelineId, runId: metricRunId }));
  }

  /**
   * The pipeline whose metric run id is `runId`, or `null` (unique index `pipelines_metric_run_idx`).
   * @example const pl = await db.pipelines.getByMetricRunId("9f1c0e…");
   */
  async getByMetricRunId(runId: string): Promise<Pipeline | null> {
    const metricRunId = v.text(runId, "runId", { nonEmpty: true });
    const stmt = this.rows("getByMetricRunId", () => ({ where: eq(pipelines.metricRunId, p("runId")), limit: 1 }));
    return (await this.settle(stmt.get({ runId: metricRunId }))) ?? null;
  }

  /**
   * Sets the shard the pipeline is working on (the other counters are unchanged).
   * @example await db.pipelines.setCurrentShard(pid, 12);
   */
  async setCurrentShard(id: number, shardId: number): Promise<void> {
    const pipelineId = v.id(id, "pipelineId");
    const shard = v.count(shardId, "shardId");
    await this.updateById("setCurrentShard", () => ({ currentShardId: slot("shard") }), { id: pipelineId, shard });
  }

  /**
   * The experiment's pipelines without their configurations (no JSON column,
   * no opaque payload), ordered by id — what a dashboard polls. Read from the
   * covering index `pipelines_summary_idx` alone: no table row is touched.
   * `{ limit, afterId }` reads one keyset page (paging.ts).
   * @example for (const s of await db.pipelines.listSummaries(eid)) console.log(s.pipelineId, s.status, s.shardsCompleted);
   */
  async listSummaries(experimentId: number, page?: PageOptions): Promise<PipelineSummary[]> {
    const eid = v.id(experimentId, "experimentId");
    const pg = pageOf(page);
    const stmt = this.compiled("listSummaries", () =>
      this.db
        .select(summaryFields)
        .from(pipelines)
        .where(and(eq(pipelines.experimentId, p("experimentId")), gte(pipelines.pipelineId, p("bound"))))
        .orderBy(asc(pipelines.pipelineId))
        .limit(p("n"))
        .prepare(),
    );
    return this.paged(
      pg,
      "asc",
      (r) => r.pipelineId,
      (bound, n) => stmt.all({ experimentId: eid, bound, n }),
    );
  }

  /**
   * The pipeline's family line through `parentPipelineId` (clones), as
   * summaries with a `depth`: its ancestors from the root down (depth -n …
   * -1), the pipeline itself (0), then its descendants breadth first (1, 2 …;
   * by id within a depth). `[]` when the pipeline does not exist. One
   * statement (a recursive CTE over the primary key and
   * `pipelines_parent_idx`); a cycle written by raw SQL ends the walk.
   * @example const line = await db.pipelines.lineage(pid); const root = line[0];
   */
  async lineage(id: number): Promise<LineageEntry[]> {
    const pipelineId = v.id(id, "pipelineId");
    const stmt = this.compiled("lineage", () => lineageQuery(this.db).prepare());
    return this.settle(stmt.all({ id: pipelineId }));
  }

  /** `write`, with a duplicate metric run id reported as a ValidationError naming the pipeline that has it. */
  async #uniqueRun<T>(runId: string | null, write: Promise<T>): Promise<T> {
    try {
      return await write;
    } catch (err) {
      if (runId === null || !(err instanceof ValidationError) || !/metric_run_id/.test(err.message)) throw err;
      const owner = await this.getByMetricRunId(runId).catch(() => null);
      throw new ValidationError(
        `metricRunId ${JSON.stringify(runId)} already belongs to pipeline ${owner?.pipelineId ?? "(another)"}: a metric run has one pipeline`,
        { field: "metricRunId", cause: err },
      );
    }
  }

  /**
   * The experiment's pipelines, ordered by id (index `pipelines_experiment_idx`);
   * `{ limit, afterId }` reads one keyset page (paging.ts).
   * @example for (const pl of await db.pipelines.list(experimentId)) console.log(pl.pipelineName, pl.status);
   * @example const next = await db.pipelines.list(experimentId, { limit: 50, afterId: lastSeen });
   */
  async list(experimentId: number, page?: PageOptions): Promise<Pipeline[]> {
    const eid = v.id(experimentId, "experimentId");
    const pg = pageOf(page);
    const where = () => and(eq(pipelines.experimentId, p("experimentId")), gte(pipelines.pipelineId, p("bound")));
    const stmt = this.rows("list", () => ({ where: where(), orderBy: asc(pipelines.pipelineId), limit: p("n") }));
    return this.paged(
      pg,
      "asc",
      (r) => r.pipelineId,
      (bound, n) => stmt.all({ experimentId: eid, bound, n }),
    );
  }

  /**
   * Overwrites the progress counters (use `advanceProgress` when several actors report at once).
   * @example await db.pipelines.setProgress(pid, { currentShardId: 3, shardsCompleted: 3, totalSamplesProcessed: 1200 });
   */
  async setProgress(id: number, progress: PipelineProgress): Promise<void> {
    const pipelineId = v.id(id, "pipelineId");
    const counters = progressInput.parse(progress, "progress");
    await this.updateById("setProgress", () => progressInput.placeholders(), { id: pipelineId, ...counters });
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
    const params = { id: pipelineId, ...progressDeltaInput.parse(delta, "delta") };
    const stmt = this.compiled("advanceProgress", () =>
      updateOf(this.db, pipelines, progressIncrement())
        .where(eq(pipelines.pipelineId, p("id")))
        .returning({
          shardsCompleted: pipelines.shardsCompleted,
          totalSamplesProcessed: pipelines.totalSamplesProcessed,
        })
        .prepare(),
    );
    return this.found(await this.settle(stmt.get(params)), pipelineId);
  }

  /**
   * `new → ongoing`. Like every named move: one conditional statement;
   * InvalidTransitionError (nothing written) from a status that does not
   * allow it, NotFoundError for a missing id, and a no-op when the pipeline
   * already has the target status (a redelivered IC operation may repeat it).
   * @example await db.pipelines.start(pid);
   */
  async start(id: number): Promise<void> {
    await this.#named("start", id);
  }

  /**
   * `new | ongoing → stopped` (the interactive-control "stop").
   * @example await db.pipelines.stop(pid);
   */
  async stop(id: number): Promise<void> {
    await this.#named("stop", id);
  }

  /**
   * `stopped → ongoing` (the interactive-control "resume").
   * @example await db.pipelines.resume(pid);
   */
  async resume(id: number): Promise<void> {
    await this.#named("resume", id);
  }

  /**
   * `ongoing → completed`.
   * @example await db.pipelines.complete(pid);
   */
  async complete(id: number): Promise<void> {
    await this.#named("complete", id);
  }

  /**
   * Any status but `deleted` → `deleted` (final; a deleted pipeline accepts
   * no further IC operation). The row stays: tasks and history keep it.
   * @example await db.pipelines.delete(pid);
   */
  async delete(id: number): Promise<void> {
    await this.#named("delete", id);
  }

  /**
   * `new | ongoing | stopped → failed`, recording the error in the same
   * statement (a pipeline already failed keeps its first error).
   * @example await db.pipelines.fail(pid, "CUDA out of memory");
   */
  async fail(id: number, error: string): Promise<void> {
    const pipelineId = v.id(id, "pipelineId");
    const message = v.text(error, "error");
    const { to, from } = MOVES.fail;
    await this.move("fail", pipelineId, to, from, () => ({ error: slot("error") }), { error: message });
  }

  async #named(name: Exclude<keyof typeof MOVES, "fail">, id: number): Promise<void> {
    const pipelineId = v.id(id, "pipelineId");
    const { to, from } = MOVES[name];
    await this.move(name, pipelineId, to, from);
  }
}
