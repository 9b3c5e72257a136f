import { desc, eq, sql } from "drizzle-orm";
import { EXPERIMENT_STATUSES, EXPERIMENT_TRANSITIONS, experiments, type Experiment } from "../schema";
import * as v from "../validate";
import { slot } from "./base-repository";
import { defineEntity } from "./entity";
import { field, type InputOf, inputSpec } from "./input";
import { LifecycleRepository } from "./lifecycle";

const p = sql.placeholder;

/** The experiment entity (see entity.ts): the root; never failed by `resetExperimentStates`. */
export const experimentEntity = defineEntity(experiments, {
  key: "experiments",
  name: "experiment",
  root: true,
  transitions: EXPERIMENT_TRANSITIONS,
});

/** `experiments.create`'s input; defaults (numShards 0, status `running`) are the schema's. */
export const experimentInput = inputSpec(experiments, {
  experimentName: field.text({ nonEmpty: true }),
  numActors: field.count(),
  numShards: field.count().optional(),
  numCpus: field.count().nullable(),
  numGpus: field.count().nullable(),
  /** Stored as `metricExperimentId` (rows carry both names). */
  mlflowExperimentId: field.text().nullable().column("metricExperimentId"),
  /** Defaults to `running`. */
  status: field.oneOf(EXPERIMENT_STATUSES).optional(),
});
export interface CreateExperimentInput extends InputOf<typeof experimentInput> {}

/** A stored row plus `mlflowExperimentId`, the first release's name of `metricExperimentId`. */
function withAlias(row: typeof experiments.$inferSelect | null | undefined): Experiment | null {
  return row ? { ...row, mlflowExperimentId: row.metricExperimentId } : null;
}

/** `db.experiments`: one row per experiment run. */
export class ExperimentRepository extends LifecycleRepository<typeof experimentEntity> {
  protected readonly entity = experimentEntity;

  /**
   * Creates an experiment and returns its id.
   * @example const id = await db.experiments.create({ experimentName: "llama-sweep", numActors: 4, numShards: 64 });
   */
  async create(input: CreateExperimentInput): Promise<number> {
    return this.insert(experimentInput, experimentInput.parse(input));
  }

  /**
   * The experiment, or `null`.
   * @example const exp = await db.experiments.get(id); exp?.status // "running"
   */
  override async get(id: number): Promise<Experiment | null> {
    return withAlias(await super.get(id));
  }

  /**
   * The most recent experiment whose status is `running`, or `null`.
   * @example const current = await db.experiments.getCurrent();
   */
  async getCurrent(): Promise<Experiment | null> {
    const stmt = this.rows("getCurrent", () => ({
      where: eq(experiments.status, "running"),
      orderBy: desc(experiments.experimentId),
      limit: 1,
    }));
    return withAlias(await this.settle(stmt.get()));
  }

  /**
   * The most recently created experiment, whatever its status, or `null`.
   * @example const last = await db.experiments.getLatest();
   */
  async getLatest(): Promise<Experiment | null> {
    const [latest] = await this.listRecent(1);
    return latest ?? null;
  }

  /**
   * The experiment a dashboard shows by default: the most recent `running`
   * one, else the most recent one; `null` when there is none. One statement.
   * @example const exp = await db.experiments.getRunningOrLatest();
   */
  async getRunningOrLatest(): Promise<Experiment | null> {
    const e = experiments;
    // Two index lookups (experiments_status_idx, then the rowid's end), no sort.
    const where = () =>
      sql`${e.experimentId} = coalesce((select max(${e.experimentId}) from ${e} where ${e.status} = 'running'), (select max(${e.experimentId}) from ${e}))`;
    const stmt = this.rows("getRunningOrLatest", () => ({ where: where(), limit: 1 }));
    return withAlias(await this.settle(stmt.get()));
  }

  /**
   * The `limit` most recent experiments, newest first.
   * @example for (const e of await db.experiments.listRecent(5)) console.log(e.experimentId, e.status);
   */
  async listRecent(limit: number): Promise<Experiment[]> {
    const n = v.count(limit, "limit");
    const stmt = this.rows("listRecent", () => ({ orderBy: desc(experiments.experimentId), limit: p("limit") }));
    return (await this.settle(stmt.all({ limit: n }))).map((row) => withAlias(row)!);
  }

  /**
   * The most recent experiment with that name, or `null`.
   * @example const exp = await db.experiments.getByName("llama-sweep");
   */
  async getByName(name: string): Promise<Experiment | null> {
    const experimentName = v.text(name, "name");
    const where = () => eq(experiments.experimentName, p("name"));
    const stmt = this.rows("getByName", () => ({ where: where(), orderBy: desc(experiments.experimentId), limit: 1 }));
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
    const row = this.found(await this.settle(stmt.get({ id: experimentId })), experimentId);
    return row.error ?? "";
  }

  /**
   * Sets the number of shards the experiment's data set is split into.
   * @example await db.experiments.setNumShards(id, 128);
   */
  async setNumShards(id: number, n: number): Promise<void> {
    const experimentId = v.id(id, "experimentId");
    const numShards = v.count(n, "numShards");
    await this.updateById("setNumShards", () => ({ numShards: slot("numShards") }), { id: experimentId, numShards });
  }
}
