/**
 * Recovery after processes died, as statements for one atomic batch:
 * `reapStale` (what ended leases mean — lease.ts) and `resetExperimentStates`
 * (the blunt "fail everything unfinished", now scoped to one experiment when
 * asked). database.ts runs them; every statement RETURNs the ids it changed,
 * so the counts are exact.
 */
import { inArray, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { ValidationError } from "../errors";
import { legacyImports } from "../schema/legacy-imports";
import { id, record } from "../validate";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { actorTasks, experiments, icOperations, pipelines } from "../schema";
import { endedByDatabase, exhaustedLease, expiredLease } from "./actor-task-repository";
import type { Database, Executor } from "./executor";
import { exhaustedIcLease, expiredIcLease } from "./ic-operation-leases";
import { ended, isoTime } from "./lease";
import { ENTITIES, type RecoveredEntity, type ResetCounts } from "./registry";
import { updateOf } from "./update";

/** The error of an experiment whose controller's lease ended: `controller lost: no heartbeat since <ISO time>`. */
export const CONTROLLER_LOST = "controller lost: no heartbeat since ";

/** What `db.reapStale()` returns: rows it changed per table. */
export interface ReapCounts {
  /** Tasks re-queued (lease ended), failed (lease ended after the last attempt), or failed with their lost experiment. */
  actorTasks: number;
  /** IC operations re-queued (lease ended) or failed (lease ended after the last attempt). */
  icOperations: number;
  /** Running experiments failed because their controller's lease ended. */
  experiments: number;
}

/** Experiments failed by a reap: their unfinished work is failed with them (also by a later reap). */
const lostExperiments = sql`(select ${experiments.experimentId} from ${experiments} where ${experiments.status} = 'failed' and substr(${experiments.error}, 1, ${CONTROLLER_LOST.length}) = ${CONTROLLER_LOST})`;

/** The lost experiment's error, for a child row of it (`table.experiment_id`). */
const errorOfExperiment = (experimentId: SQLiteColumn) =>
  sql`(select e.error from ${experiments} e where e.experiment_id = ${experimentId})`;

/**
 * The statements of `db.reapStale()`, in order, grouped by what they count.
 * Lost experiments first, then their unfinished pipelines and tasks (so those
 * are failed, not re-queued), then ended leases of every other task and IC
 * operation.
 */
export function reapStatements(d: Executor) {
  const e = experiments;
  const pl = pipelines;
  const t = actorTasks;
  const ic = icOperations;
  const exp = updateOf(d, e, {
    status: "failed",
    error: sql`${CONTROLLER_LOST} || ${isoTime(sql`coalesce(${e.heartbeatAt}, ${e.leaseExpiresAt})`)}`,
  })
    .where(sql`${e.status} = 'running' and ${ended(e.leaseExpiresAt)}`)
    .returning({ id: e.experimentId });
  const pipes = updateOf(d, pl, {
    status: "failed",
    error: sql`coalesce(${pl.error}, ${errorOfExperiment(pl.experimentId)})`,
  })
    .where(sql`${pl.status} in ('new', 'ongoing') and ${pl.experimentId} in ${lostExperiments}`)
    .returning({ id: pl.pipelineId });
  const lostTasks = updateOf(d, t, {
    status: "failed",
    errorMessage: sql`coalesce(${t.errorMessage}, ${errorOfExperiment(t.experimentId)})`,
    ...endedByDatabase,
  })
    .where(sql`${t.status} in ('scheduled', 'in_progress') and ${t.experimentId} in ${lostExperiments}`)
    .returning({ id: t.taskId });
  const exhaustedTasks = updateOf(d, t, exhaustedLease).where(expiredLease(false)).returning({ id: t.taskId });
  const requeuedTasks = updateOf(d, t, { status: "scheduled", leaseOwner: null, leaseExpiresAt: null })
    .where(expiredLease(true))
    .returning({ id: t.taskId });
  const exhaustedOps = updateOf(d, ic, exhaustedIcLease).where(expiredIcLease(false)).returning({ id: ic.icId });
  const requeuedOps = updateOf(d, ic, { status: "pending", leaseExpiresAt: null })
    .where(expiredIcLease(true))
    .returning({ id: ic.icId });
  return {
    experiments: [exp],
    pipelines: [pipes],
    actorTasks: [lostTasks, exhaustedTasks, requeuedTasks],
    icOperations: [exhaustedOps, requeuedOps],
  };
}

/** The entities `resetExperimentStates` recovers. */
export const RECOVERED = ENTITIES.filter((e): e is RecoveredEntity => e.unfinished !== undefined);

/**
 * The statements of `db.resetExperimentStates(experimentId?)`, one per
 * recovered entity (null: the entity is not scoped to experiments — contexts
 * are shared — and a scoped reset leaves it alone).
 */
export function resetStatements(d: Executor, reason: string, now: Date, experimentId?: number) {
  return RECOVERED.map((entity) => {
    const columns = entity.table as unknown as Record<string, SQLiteColumn | undefined>;
    let scope: SQL | undefined;
    if (experimentId !== undefined) {
      const eid = columns.experimentId;
      if (!eid) return null;
      // An IC operation written before it had an experiment belongs to its pipeline's.
      scope = columns.pipelineId
        ? sql`(${eid} = ${experimentId} or (${eid} is null and ${columns.pipelineId} in (select ${pipelines.pipelineId} from ${pipelines} where ${pipelines.experimentId} = ${experimentId})))`
        : sql`${eid} = ${experimentId}`;
    }
    const set: Record<string, unknown> = {
      status: "failed",
      [entity.error]: sql`coalesce(${columns[entity.error]}, ${reason})`,
    };
    if (entity.recoveredAt !== undefined) set[entity.recoveredAt] = now;
    if (columns.leaseExpiresAt) set.leaseExpiresAt = null; // a failed row holds no lease
    const unfinished = inArray(columns.status!, [...entity.unfinished]);
    return updateOf(d, entity.table, set)
      .where(scope ? sql`${unfinished} and ${scope}` : unfinished)
      .returning({ id: entity.id });
  });
}

/** Runs queries as one atomic batch (one request remotely); no queries, no request. */
async function batchOf(d: Database, queries: BatchItem<"sqlite">[]): Promise<unknown[][]> {
  if (queries.length === 0) return [];
  return (await d.batch(queries as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]])) as unknown[][];
}

/** `db.reapStale()`: runs {@link reapStatements} in one batch and counts the rows changed per group. */
export async function reapStale(d: Database): Promise<ReapCounts> {
  const groups = reapStatements(d);
  const order = [groups.experiments, groups.pipelines, groups.actorTasks, groups.icOperations];
  const results = await batchOf(d, order.flat());
  // Rows changed per group, in batch order (pipelines are counted with their experiments).
  let at = 0;
  const [experimentRows, , taskRows, opRows] = order.map((group) => {
    const rows = results.slice(at, at + group.length).reduce((sum, r) => sum + r.length, 0);
    at += group.length;
    return rows;
  });
  return { actorTasks: taskRows!, icOperations: opRows!, experiments: experimentRows! };
}

/** `db.resetExperimentStates(experimentId?)`: {@link resetStatements} in one batch, rows changed per entity. */
export async function resetExperimentStates(d: Database, experimentId?: number): Promise<ResetCounts> {
  const eid = experimentId === undefined ? undefined : id(experimentId, "experimentId");
  const statements = resetStatements(d, "interrupted: reset after a crash", new Date(), eid);
  const results = await batchOf(
    d,
    statements.filter((q) => q !== null),
  );
  let i = 0;
  return Object.fromEntries(
    RECOVERED.map((e, k) => [e.key, statements[k] === null ? 0 : results[i++]!.length]),
  ) as ResetCounts;
}

/**
 * `db.resetAllTables({ experiments? })`: deletes every row of the entities,
 * children first (the registry lists parents first), in one batch; the root
 * (experiments) only when asked — and with it the record of what was imported
 * from the Python module, which makes those files importable again.
 */
export async function resetAllTables(d: Database, options: unknown): Promise<void> {
  const o = options === undefined ? {} : record(options, "options");
  if (o.experiments !== undefined && typeof o.experiments !== "boolean") {
    // A truthy string must not delete every experiment.
    throw new ValidationError(`options.experiments must be a boolean, got ${typeof o.experiments}`, {
      field: "experiments",
    });
  }
  const all = o.experiments === true;
  const deletes: BatchItem<"sqlite">[] = [...ENTITIES]
    .reverse()
    .filter((e) => all || e.root !== true)
    .map((e) => d.delete(e.table));
  await batchOf(d, all ? [...deletes, d.delete(legacyImports)] : deletes);
}
