/**
 * `db.snapshot(experimentId)`: what a dashboard draws for one experiment, read
 * as ONE consistent read — a read batch: one read transaction locally, one
 * request on a remote database — together with the change-feed cursor of
 * that same moment, so `watch({ cursor })` continues exactly where it left off.
 */
import { and, asc, eq, max, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { mapDriverError, NotFoundError } from "../errors";
import type { Database } from "../repositories";
import { CompiledQuery, StatementHolder } from "../repositories/engine";
import {
  ACTOR_TASK_STATUSES,
  type ActorTask,
  type ActorTaskStatus,
  actorTaskCounts,
  actorTasks,
  changeLog,
  type Experiment,
  experiments,
  type IcOperation,
  icOperations,
  type Pipeline,
  pipelines,
  rowColumns,
  TASK_COUNT_COLUMNS,
} from "../schema";
import * as v from "../validate";

/** What `db.snapshot(experimentId)` returns. */
export interface Snapshot {
  experiment: Experiment;
  /** Every pipeline of the experiment, by id. */
  pipelines: Pipeline[];
  /** Tasks of the experiment per status (absent statuses are 0). */
  taskCounts: Record<ActorTaskStatus, number>;
  /** Tasks `in_progress`, by id (the first {@link SNAPSHOT_LIMITS}.runningTasks; taskCounts.in_progress says how many there are). */
  runningTasks: ActorTask[];
  /** `pending` IC operations of the experiment, oldest first (the first {@link SNAPSHOT_LIMITS}.pendingOperations). */
  pendingOperations: IcOperation[];
  /** The change-feed cursor of this read: `db.watch({ experimentId, cursor })` continues from it without a gap. */
  cursor: number;
}

/**
 * Caps on a snapshot's lists, so one read stays far below a remote server's
 * response limit (sqld: 10 MB) whatever the queue holds; page through the
 * rest with `icOperations.listPending({ afterId, limit })`.
 */
export const SNAPSHOT_LIMITS = { runningTasks: 5000, pendingOperations: 1000 } as const;

const p = sql.placeholder;

/**
 * An experiment's rows of a work queue in `status`, oldest (lowest id) first,
 * at most `:<limit>` of them: the running tasks and the pending IC operations.
 */
function queued(
  d: Database,
  table: typeof actorTasks | typeof icOperations,
  id: SQLiteColumn,
  status: string,
  limit: string,
) {
  return d
    .select(rowColumns(table as typeof actorTasks))
    .from(table as typeof actorTasks)
    .where(and(eq(table.experimentId, p("id")), eq(table.status, status as "pending")))
    .orderBy(asc(id))
    .limit(p(limit))
    .prepare();
}

/** Reads snapshots; its statements are compiled once per database (see the statement engine). */
export class SnapshotReader extends StatementHolder {
  /**
   * One consistent read of experiment `experimentId`; NotFoundError when it does not exist.
   * @example const { experiment, pipelines, taskCounts, cursor } = await db.snapshot(experimentId);
   */
  async read(experimentId: number): Promise<Snapshot> {
    const id = v.id(experimentId, "experimentId");
    const s = this.#compiled();
    const values = { id, running: SNAPSHOT_LIMITS.runningTasks, pending: SNAPSHOT_LIMITS.pendingOperations };
    const stmts = [s.experiment, s.pipelines, s.counts, s.running, s.pending, s.head] as CompiledQuery<unknown>[];
    let results: Awaited<ReturnType<typeof CompiledQuery.batch>>;
    try {
      results = await CompiledQuery.batch(
        stmts.map((query) => ({ query, values })),
        "read",
      );
    } catch (err) {
      throw mapDriverError(err, this.options);
    }
    const [e, pl, c, r, o, h] = results;
    const row = s.experiment.decodeFirst(e!);
    if (!row) throw new NotFoundError("experiment", id);
    const counted = s.counts.decodeFirst(c!) as Record<ActorTaskStatus, number> | undefined;
    const taskCounts = Object.fromEntries(ACTOR_TASK_STATUSES.map((st) => [st, Number(counted?.[st] ?? 0)]));
    return {
      experiment: { ...row, mlflowExperimentId: row.metricExperimentId },
      pipelines: s.pipelines.decodeAll(pl!),
      taskCounts: taskCounts as Record<ActorTaskStatus, number>,
      runningTasks: s.running.decodeAll(r!),
      pendingOperations: s.pending.decodeAll(o!),
      cursor: Number(s.head.decodeFirst(h!)?.head ?? 0),
    };
  }

  #compiled() {
    const d = this.db as Database;
    const get = this.statements.get.bind(this.statements);
    return {
      experiment: get("experiment", () =>
        d
          .select(rowColumns(experiments))
          .from(experiments)
          .where(eq(experiments.experimentId, p("id")))
          .limit(1)
          .prepare(),
      ),
      pipelines: get("pipelines", () =>
        d
          .select(rowColumns(pipelines))
          .from(pipelines)
          .where(eq(pipelines.experimentId, p("id")))
          .orderBy(asc(pipelines.pipelineId))
          .prepare(),
      ),
      // The experiment's row of the task counters (kept by triggers; as actorTasks.countByStatus).
      counts: get("counts", () =>
        d
          .select(
            Object.fromEntries(
              ACTOR_TASK_STATUSES.map((st) => [st, actorTaskCounts[TASK_COUNT_COLUMNS[st]]]),
            ) as Record<ActorTaskStatus, typeof actorTaskCounts.scheduled>,
          )
          .from(actorTaskCounts)
          .where(eq(actorTaskCounts.experimentId, p("id")))
          .limit(1)
          .prepare(),
      ),
      running: get("running", () =>
        queued(d, actorTasks, actorTasks.taskId, "in_progress", "running"),
      ) as unknown as CompiledQuery<ActorTask>,
      pending: get("pending", () =>
        queued(d, icOperations, icOperations.icId, "pending", "pending"),
      ) as unknown as CompiledQuery<IcOperation>,
      head: get("head", () =>
        d
          .select({ head: max(changeLog.seq) })
          .from(changeLog)
          .prepare(),
      ),
    };
  }
}
