import { desc, eq, sql } from "drizzle-orm";
import { EXPERIMENT_STATUSES, experiments, type Experiment, type ExperimentStatus } from "../schema";
import * as v from "../validate";
import { BaseRepository, slot } from "./base-repository";

const p = sql.placeholder;

export interface CreateExperimentInput {
  experimentName: string;
  numActors: number;
  numShards?: number;
  numCpus?: number | null;
  numGpus?: number | null;
  mlflowExperimentId?: string | null;
  /** Defaults to `running`. */
  status?: ExperimentStatus;
}

/** A stored row plus `mlflowExperimentId`, the first release's name of `metricExperimentId`. */
function withAlias(row: typeof experiments.$inferSelect | null | undefined): Experiment | null {
  return row ? { ...row, mlflowExperimentId: row.metricExperimentId } : null;
}

/** `db.experiments`: one row per experiment run. */
export class ExperimentRepository extends BaseRepository {
  /**
   * Creates an experiment and returns its id.
   * @example const id = await db.experiments.create({ experimentName: "llama-sweep", numActors: 4, numShards: 64 });
   */
  async create(input: CreateExperimentInput): Promise<number> {
    const i = v.record(input, "input");
    const values = {
      experimentName: v.text(i.experimentName, "experimentName", { nonEmpty: true }),
      numActors: v.count(i.numActors, "numActors"),
      numShards: v.optionalCount(i.numShards, "numShards") ?? 0,
      numCpus: v.nullableCount(i.numCpus, "numCpus"),
      numGpus: v.nullableCount(i.numGpus, "numGpus"),
      mlflowExperimentId: v.nullableText(i.mlflowExperimentId, "mlflowExperimentId"),
      status: i.status === undefined ? "running" : v.oneOf(i.status, EXPERIMENT_STATUSES, "status"),
    };
    const stmt = this.compiled("create", () =>
      this.db
        .insert(experiments)
        .values({
          experimentName: p("experimentName"),
          numActors: p("numActors"),
          numShards: p("numShards"),
          numCpus: p("numCpus"),
          numGpus: p("numGpus"),
          metricExperimentId: p("mlflowExperimentId"),
          status: p("status"),
        })
        .returning({ id: experiments.experimentId })
        .prepare(),
    );
    const row = await this.settle(stmt.get(values));
    return row!.id;
  }

  /**
   * The experiment, or `null`.
   * @example const exp = await db.experiments.get(id); exp?.status // "running"
   */
  async get(id: number): Promise<Experiment | null> {
    return withAlias(await this.findById(experiments, experiments.experimentId, v.id(id, "experimentId")));
  }

  /**
   * The most recent experiment whose status is `running`, or `null`.
   * @example const current = await db.experiments.getCurrent();
   */
  async getCurrent(): Promise<Experiment | null> {
    const stmt = this.compiled("getCurrent", () =>
      this.db
        .select()
        .from(experiments)
        .where(eq(experiments.status, "running"))
        .orderBy(desc(experiments.experimentId))
        .limit(1)
        .prepare(),
    );
    return withAlias(await this.settle(stmt.get()));
  }

  /**
   * The most recent experiment with that name, or `null`.
   * @example const exp = await db.experiments.getByName("llama-sweep");
   */
  async getByName(name: string): Promise<Experiment | null> {
    const experimentName = v.text(name, "name");
    const stmt = this.compiled("getByName", () =>
      this.db
        .select()
        .from(experiments)
        .where(eq(experiments.experimentName, p("name")))
        .orderBy(desc(experiments.experimentId))
        .limit(1)
        .prepare(),
    );
    return withAlias(await this.settle(stmt.get({ name: experimentName })));
  }

  /**
   * Every distinct experiment name, alphabetically.
   * @example const names = await db.experiments.listNames(); // ["a", "b"]
   */
  async listNames(): Promise<string[]> {
    const stmt = this.compiled("listNames", () =>
      this.db
        .selectDistinct({ name: experiments.experimentName })
        .from(experiments)
        .orderBy(experiments.experimentName)
        .prepare(),
    );
    const rows = await this.settle(stmt.all());
    return rows.map((r) => r.name);
  }

  /**
   * Sets the status (any of EXPERIMENT_STATUSES).
   * @example await db.experiments.setStatus(id, "completed");
   */
  async setStatus(id: number, status: ExperimentStatus): Promise<void> {
    const experimentId = v.id(id, "experimentId");
    const s = v.oneOf(status, EXPERIMENT_STATUSES, "status");
    await this.updateById(
      experiments,
      experiments.experimentId,
      "experiment",
      "setStatus",
      { status: slot("status") },
      { id: experimentId, status: s },
    );
  }

  /**
   * Records an error message on the experiment.
   * @example await db.experiments.setError(id, "actor 3 ran out of memory");
   */
  async setError(id: number, error: string): Promise<void> {
    const experimentId = v.id(id, "experimentId");
    const message = v.text(error, "error");
    await this.updateById(
      experiments,
      experiments.experimentId,
      "experiment",
      "setError",
      { error: slot("error") },
      { id: experimentId, error: message },
    );
  }

  /**
   * The recorded error message, `""` when there is none.
   * @example const message = await db.experiments.getError(id);
   */
  async getError(id: number): Promise<string> {
    const experimentId = v.id(id, "experimentId");
    const stmt = this.compiled("getError", () =>
      this.db
        .select({ error: experiments.error })
        .from(experiments)
        .where(eq(experiments.experimentId, p("id")))
        .prepare(),
    );
    const row = this.found(await this.settle(stmt.get({ id: experimentId })), "experiment", experimentId);
    return row.error ?? "";
  }

  /**
   * Sets the number of shards the experiment's data set is split into.
   * @example await db.experiments.setNumShards(id, 128);
   */
  async setNumShards(id: number, n: number): Promise<void> {
    const experimentId = v.id(id, "experimentId");
    const numShards = v.count(n, "numShards");
    await this.updateById(
      experiments,
      experiments.experimentId,
      "experiment",
      "setNumShards",
      { numShards: slot("numShards") },
      { id: experimentId, numShards },
    );
  }
}
