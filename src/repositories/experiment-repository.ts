import { desc, eq, gt, lte, sql } from "drizzle-orm";
import { ValidationError } from "../errors";
import {
  actorTasks,
  DB_NOW_MS,
  EXPERIMENT_STATUSES,
  EXPERIMENT_TRANSITIONS,
  experiments,
  icOperations,
  type Experiment,
  type RowOf,
} from "../schema";
import * as v from "../validate";
import { slot } from "./base-repository";
import { CompiledQuery } from "./engine";
import { defineEntity } from "./entity";
import { field, type InputOf, inputSpec } from "./input";
import { ended, leaseEnd, leaseMs, options } from "./lease";
import { LifecycleRepository } from "./lifecycle";
import { PAGE_ROWS, type PageOptions, pageOf } from "./paging";
import { updateOf } from "./update";

const p = sql.placeholder;

/** The experiment entity (see entity.ts): the root; never failed by `resetExperimentStates`. */
export const experimentEntity = defineEntity(experiments, {
  key: "experiments",
  name: "experiment",
  root: true,
  transitions: EXPERIMENT_TRANSITIONS,
});

/** `experiments.create`'s input; defaults (numShards 0, experimentMode `evals`, status `running`) are the schema's. */
export const experimentInput = inputSpec(experiments, {
  experimentName: field.text({ nonEmpty: true }),
  numActors: field.count(),
  numShards: field.count().optional(),
  numCpus: field.count().nullable(),
  numGpus: field.count().nullable(),
  /** The metric logger's (MLflow, Trackio …) experiment id; `mlflowExperimentId` is accepted as its alias. */
  metricExperimentId: field.text().nullable(),
  /** Resources per actor, fractional (0.5 GPU: two actors share a device). */
  numCpusPerActor: field.amount().nullable(),
  numGpusPerActor: field.amount().nullable(),
  /** Defaults to `evals`. */
  experimentMode: field.text({ nonEmpty: true }).optional(),
  /** Defaults to `running`. */
  status: field.oneOf(EXPERIMENT_STATUSES).optional(),
});
export interface CreateExperimentInput extends InputOf<typeof experimentInput> {
  /** The first release's name of `metricExperimentId` (give either; both must agree). */
  mlflowExperimentId?: string | null;
}

/** `experiments.setResources`'s input: what is omitted stays as it is; null clears a per-actor amount. */
export interface ExperimentResources {
  numActors?: number;
  numCpusPerActor?: number | null;
  numGpusPerActor?: number | null;
}

/** `mlflowExperimentId` folded into `metricExperimentId` (ValidationError when both are given and differ). */
function withoutAlias(input: CreateExperimentInput): Record<string, unknown> {
  const { mlflowExperimentId, ...rest } = v.record(input, "input") as Record<string, unknown>;
  if (mlflowExperimentId === undefined) return rest;
  if (rest.metricExperimentId !== undefined && rest.metricExperimentId !== mlflowExperimentId) {
    throw new ValidationError("metricExperimentId and its alias mlflowExperimentId differ: give one of them", {
      field: "mlflowExperimentId",
    });
  }
  return { ...rest, metricExperimentId: mlflowExperimentId };
}

/** A stored row plus `mlflowExperimentId`, the first release's name of `metricExperimentId`. */
function withAlias(row: RowOf<typeof experiments> | null | undefined): Experiment | null {
  return row ? { ...row, mlflowExperimentId: row.metricExperimentId } : null;
}

/** What `experiments.leaseStatus` reads, at the database's clock `now`. */
export interface LeaseStatus {
  now: Date;
  /** The controller's lease; null when the experiment never heartbeated. */
  controller: { owner: string | null; heartbeatAt: Date | null; expiresAt: Date | null; stale: boolean } | null;
  /** Tasks in progress whose lease ended (their actor is gone or stalled). */
  expiredTaskLeases: number;
  /** IC operations processing whose lease ended. */
  expiredIcLeases: number;
}

/** `db.experiments`: one row per experiment run. */
export class ExperimentRepository extends LifecycleRepository<typeof experimentEntity> {
  protected readonly entity = experimentEntity;

  /**
   * Creates an experiment and returns its id.
   * @example const id = await db.experiments.create({ experimentName: "llama-sweep", numActors: 4, numShards: 64 });
   * @example await db.experiments.create({ experimentName: "rag", numActors: 2, numGpusPerActor: 0.5, metricExperimentId: "mlflow-7" });
   */
  async create(input: CreateExperimentInput): Promise<number> {
    return this.insert(experimentInput, experimentInput.parse(withoutAlias(input)));
  }

  /**
   * Changes the actor count and the resources per actor (RapidFire sizes its
   * actors once it knows the cluster). Omitted fields stay as they are; null
   * clears a per-actor amount. One statement; NotFoundError for a missing id.
   * @example await db.experiments.setResources(id, { numActors: 8, numCpusPerActor: 3.75, numGpusPerActor: 0.5 });
   */
  async setResources(id: number, resources: ExperimentResources): Promise<void> {
    const experimentId = v.id(id, "experimentId");
    const r = v.record(resources, "resources");
    const given = (k: keyof ExperimentResources) => r[k] !== undefined;
    if (!given("numActors") && !given("numCpusPerActor") && !given("numGpusPerActor")) {
      throw new ValidationError("setResources needs numActors, numCpusPerActor or numGpusPerActor", {
        field: "resources",
      });
    }
    const perActor = (k: "numCpusPerActor" | "numGpusPerActor") => (r[k] === null ? null : v.amount(r[k], k));
    const params = {
      id: experimentId,
      numActors: given("numActors") ? v.count(r.numActors, "numActors") : null,
      setCpus: given("numCpusPerActor") ? 1 : 0,
      cpus: given("numCpusPerActor") ? perActor("numCpusPerActor") : null,
      setGpus: given("numGpusPerActor") ? 1 : 0,
      gpus: given("numGpusPerActor") ? perActor("numGpusPerActor") : null,
    };
    const e = experiments;
    // A flag per nullable amount: "omitted" (keep) and "null" (clear) must differ.
    const set = () => ({
      numActors: sql`coalesce(${p("numActors")}, ${e.numActors})`,
      numCpusPerActor: sql`case when ${p("setCpus")} = 1 then ${p("cpus")} else ${e.numCpusPerActor} end`,
      numGpusPerActor: sql`case when ${p("setGpus")} = 1 then ${p("gpus")} else ${e.numGpusPerActor} end`,
    });
    await this.updateById("setResources", set, params);
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
   * The `limit` most recent experiments, newest first; or, given
   * `{ limit?, afterId? }`, one keyset page of them (those older than `afterId`).
   * @example for (const e of await db.experiments.listRecent(5)) console.log(e.experimentId, e.status);
   * @example const older = await db.experiments.listRecent({ limit: 5, afterId: oldestShown });
   */
  async listRecent(limit: number | PageOptions): Promise<Experiment[]> {
    const pg = typeof limit === "number" ? pageOf({ limit }) : pageOf(limit ?? {}, "limit");
    const stmt = this.rows("listRecent", () => ({
      where: lte(experiments.experimentId, p("bound")),
      orderBy: desc(experiments.experimentId),
      limit: p("n"),
    }));
    const fetch = (bound: number, n: number) => stmt.all({ bound, n });
    const rows = await this.paged(pg, "desc", (r) => r.experimentId, fetch);
    return rows.map((row) => withAlias(row)!);
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
   * Every distinct experiment name, alphabetically; `{ limit, afterName }`
   * reads one keyset page (the names after `afterName`). Read in pages like
   * every list (paging.ts), over `experiments_name_idx`.
   * @example const names = await db.experiments.listNames(); // ["a", "b"]
   * @example const next = await db.experiments.listNames({ limit: 50, afterName: "sweep-7" });
   */
  async listNames(page?: { limit?: number; afterName?: string }): Promise<string[]> {
    const o = page === undefined ? {} : v.record(page, "page");
    for (const k of Object.keys(o))
      if (k !== "limit" && k !== "afterName")
        throw new ValidationError(`page.${k} is not an option (known: limit, afterName)`, { field: k });
    const { limit } = pageOf(o.limit === undefined ? {} : { limit: o.limit });
    // Names are never empty (experimentInput), so "" is before every one of them.
    let after = o.afterName === undefined ? "" : v.text(o.afterName, "afterName");
    const stmt = this.compiled("listNames", () =>
      this.db
        .selectDistinct({ name: experiments.experimentName })
        .from(experiments)
        .where(gt(experiments.experimentName, p("after")))
        .orderBy(experiments.experimentName)
        .limit(p("n"))
        .prepare(),
    );
    // Names have no id: the keyset is the name itself (same paging as readPages, by hand).
    const size = this.options.pageRows ?? PAGE_ROWS.local;
    const out: string[] = [];
    for (let remaining = limit ?? Number.POSITIVE_INFINITY; remaining > 0; ) {
      const n = Math.min(remaining, size);
      const rows = await this.settle(stmt.all({ after, n }));
      for (const r of rows) out.push(r.name);
      if (rows.length < n) break;
      remaining -= rows.length;
      after = rows[rows.length - 1]!.name;
    }
    return out;
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

  /**
   * The controller's liveness: takes or extends the experiment's lease for
   * `owner` (e.g. `"controller@host:pid"`) to `leaseMs` (default 60000) from
   * now by the database's clock, and records the heartbeat time. Returns
   * false — nothing written — when another owner holds a live lease, or the
   * experiment is no longer `running` (it ended, or `db.reapStale()` failed
   * it: stop working on it); an ended lease of another owner is taken over.
   * NotFoundError for a missing id. One atomic batch: one request remotely.
   * A running experiment whose lease ends is failed by `db.reapStale()`.
   * @example
   * const timer = setInterval(async () => {
   *   if (!(await db.experiments.heartbeat(id, { owner, leaseMs: 30_000 }))) process.exit(1); // lost it
   * }, 10_000);
   */
  async heartbeat(id: number, opts: { owner: string; leaseMs?: number }): Promise<boolean> {
    const experimentId = v.id(id, "experimentId");
    const o = options(opts, "options", ["owner", "leaseMs"]);
    const owner = v.text(o.owner, "owner", { nonEmpty: true });
    const ms = leaseMs(o.leaseMs);
    const e = experiments;
    const take = this.compiled("heartbeat", () =>
      updateOf(this.db, e, { leaseOwner: slot("owner"), leaseExpiresAt: leaseEnd, heartbeatAt: DB_NOW_MS })
        .where(
          sql`${e.experimentId} = ${p("id")} and ${e.status} = 'running' and (${e.leaseOwner} is null or ${e.leaseOwner} = ${p("owner")} or ${e.leaseExpiresAt} is null or ${ended(e.leaseExpiresAt)})`,
        )
        .prepare(),
    );
    const exists = this.compiled("exists", () =>
      this.db
        .select({ id: e.experimentId })
        .from(e)
        .where(eq(e.experimentId, p("id")))
        .limit(1)
        .prepare(),
    );
    const [taken, found] = await this.settle(
      CompiledQuery.batch([
        { query: take as CompiledQuery<unknown>, values: { id: experimentId, owner, leaseMs: ms } },
        { query: exists as CompiledQuery<unknown>, values: { id: experimentId } },
      ]),
    );
    if (taken!.rowsAffected > 0) return true;
    this.found(exists.decodeFirst(found!), experimentId);
    return false;
  }

  /**
   * The liveness of an experiment's run at the database's clock (`now`), in
   * one read: its controller's lease (stale = still `running` but the lease
   * ended: `db.reapStale()` would fail it), the tasks in progress whose lease
   * ended (a dead actor's: the next claim re-takes them) and the IC
   * operations whose worker's lease ended.
   * `null` for a missing experiment. What `rf-db status` marks.
   * @example const live = await db.experiments.leaseStatus(id); if (live?.controller?.stale) console.log("controller lost");
   */
  async leaseStatus(id: number): Promise<LeaseStatus | null> {
    const experimentId = v.id(id, "experimentId");
    const e = experiments;
    const t = actorTasks;
    const ic = icOperations;
    const stmt = this.compiled("leaseStatus", () =>
      this.db
        .select({
          now: sql<number>`${DB_NOW_MS}`,
          status: e.status,
          owner: e.leaseOwner,
          heartbeatAt: e.heartbeatAt,
          expiresAt: e.leaseExpiresAt,
          // Each a range of a (status, lease_expires_at) index (the experiment is a placeholder: Drizzle
          // writes column names unqualified inside a select list).
          expiredTaskLeases: sql<number>`(select count(*) from ${t} where ${t.experimentId} = ${p("id")} and ${t.status} = 'in_progress' and ${ended(t.leaseExpiresAt)})`,
          expiredIcLeases: sql<number>`(select count(*) from ${ic} where ${ic.experimentId} = ${p("id")} and ${ic.status} = 'processing' and ${ended(ic.leaseExpiresAt)})`,
        })
        .from(e)
        .where(eq(e.experimentId, p("id")))
        .limit(1)
        .prepare(),
    );
    const row = await this.settle(stmt.get({ id: experimentId }));
    if (!row) return null;
    const now = new Date(Number(row.now));
    const controller =
      row.owner === null && row.expiresAt === null
        ? null
        : {
            owner: row.owner,
            heartbeatAt: row.heartbeatAt,
            expiresAt: row.expiresAt,
            stale: row.status === "running" && row.expiresAt !== null && row.expiresAt.getTime() <= now.getTime(),
          };
    return {
      now,
      controller,
      expiredTaskLeases: Number(row.expiredTaskLeases),
      expiredIcLeases: Number(row.expiredIcLeases),
    };
  }
}
