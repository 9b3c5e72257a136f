import { asc, eq, sql } from "drizzle-orm";
import { PIPELINE_STATUSES, PIPELINE_TRANSITIONS, pipelines, type Pipeline, type PipelineStatus } from "../schema";
import { statusesLeadingTo } from "../schema/transitions";
import * as v from "../validate";
import { slot } from "./base-repository";
import { defineEntity } from "./entity";
import { field, type InputOf, inputSpec } from "./input";
import { LifecycleRepository } from "./lifecycle";
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
 * `modelConfig` and `samplingParams` are NOT NULL columns: null is refused by the spec.
 */
export const pipelineInput = inputSpec(pipelines, {
  experimentId: field.id(),
  pipelineName: field.text({ nonEmpty: true }),
  pipelineType: field.text({ nonEmpty: true }),
  modelConfig: field.json(),
  samplingParams: field.json(),
  contextId: field.id().nullable(),
  /** Defaults to `new`. */
  status: field.oneOf(PIPELINE_STATUSES).optional(),
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
    const fk =
      values.contextId === null
        ? { entity: "experiment", id: values.experimentId }
        : { entity: "experiment or context", id: undefined };
    return this.insert(pipelineInput, values, fk);
  }

  /**
   * The experiment's pipelines, ordered by id (index `pipelines_experiment_idx`).
   * @example for (const pl of await db.pipelines.list(experimentId)) console.log(pl.pipelineName, pl.status);
   */
  async list(experimentId: number): Promise<Pipeline[]> {
    const eid = v.id(experimentId, "experimentId");
    const where = () => eq(pipelines.experimentId, p("experimentId"));
    const stmt = this.rows("list", () => ({ where: where(), orderBy: asc(pipelines.pipelineId) }));
    return this.settle(stmt.all({ experimentId: eid }));
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
