import { and, count, eq, inArray, type SQL, sql } from "drizzle-orm";
import { InvalidTransitionError } from "../errors";
import {
  ACTOR_TASK_STATUSES,
  ACTOR_TASK_TRANSITIONS,
  actorTasks,
  experiments,
  pipelines,
  type ActorTask,
  type ActorTaskStatus,
} from "../schema";
import * as v from "../validate";
import { slot } from "./base-repository";
import { CompiledQuery } from "./engine";
import { defineEntity } from "./entity";
import { field, type InputOf, inputSpec } from "./input";
import { elapsedSeconds, TimedLifecycleRepository } from "./lifecycle";
import {
  type AdvanceProgressInput,
  type PipelineProgress,
  progressDeltaInput,
  progressIncrement,
} from "./pipeline-repository";
import { updateOf } from "./update";

const p = sql.placeholder;

/** The actor task entity (see entity.ts). Its error column is `errorMessage`. */
export const actorTaskEntity = defineEntity(actorTasks, {
  key: "actorTasks",
  name: "actor task",
  error: "errorMessage",
  timed: true,
  unfinished: ["scheduled", "in_progress"],
  transitions: ACTOR_TASK_TRANSITIONS,
});

/** `actorTasks.create`'s input; the status default (`scheduled`) is the schema's. */
export const actorTaskInput = inputSpec(actorTasks, {
  experimentId: field.id(),
  pipelineId: field.id(),
  actorId: field.id(),
  shardId: field.id(),
  /** Defaults to `scheduled`. */
  status: field.oneOf(ACTOR_TASK_STATUSES).optional(),
  /**
   * The start time, recorded in the same INSERT (not recorded when omitted).
   * With `status: "in_progress"` this creates and starts the task in one
   * statement — what `create` followed by `start` does in two.
   */
  startedAt: field.time().optional(),
});
export interface CreateActorTaskInput extends InputOf<typeof actorTaskInput> {}

/** What `completeWithProgress` returns: the task's pipeline and its progress counters after the increment. */
export interface TaskCompletion extends PipelineProgress {
  pipelineId: number;
}

/** The task's duration at `:ms`, by the one duration policy (lifecycle.ts). */
const elapsed = elapsedSeconds(actorTasks.startedAt);

/** `→ failed` with `:error`, the end time `:t` and the duration at `:ms` (`fail`, `failUnfinished`). */
const failed = {
  status: "failed",
  errorMessage: slot("error"),
  completedAt: slot("t"),
  durationSeconds: elapsed,
} as const;

/**
 * `(select count(*) from actor_tasks where experiment_id = :experimentId and status = '<s>')`: one
 * index range each. (Drizzle writes column names unqualified inside a select list, so the
 * experiment is a placeholder, not a correlation with the outer row.)
 */
const countOf = (status: ActorTaskStatus) =>
  sql<number>`(select count(*) from ${actorTasks} where ${actorTasks.experimentId} = ${p("experimentId")} and ${actorTasks.status} = ${sql.raw(`'${status}'`)})`;

/** `db.actorTasks`: one row per shard of a pipeline run by an actor. */
export class ActorTaskRepository extends TimedLifecycleRepository<typeof actorTaskEntity> {
  protected readonly entity = actorTaskEntity;

  /**
   * Creates a task; NotFoundError if the experiment or pipeline does not exist.
   * Pass `status: "in_progress"` and `startedAt` to create a running task in
   * one statement (one request remotely) instead of `create` + `start`.
   * @example const taskId = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 3 });
   * @example const taskId = await db.actorTasks.create({ experimentId, pipelineId, actorId: 0, shardId: 3, status: "in_progress", startedAt: new Date() });
   */
  async create(input: CreateActorTaskInput): Promise<number> {
    const values = actorTaskInput.parse(input);
    // Bound as epoch milliseconds (the column's storage), null when absent.
    const startedAt = values.startedAt === null ? null : values.startedAt.getTime();
    // startedAt: a raw placeholder (not through the Date encoder, which cannot take null).
    const raw = { startedAt: sql`${p("startedAt")}` };
    return this.insert(
      actorTaskInput,
      { ...values, startedAt },
      { entity: "experiment or pipeline", id: undefined },
      raw,
    );
  }

  /**
   * The experiment's tasks in `in_progress`, by id (index `actor_tasks_experiment_status_idx`).
   * @example const running = await db.actorTasks.listRunning(experimentId);
   */
  async listRunning(experimentId: number): Promise<ActorTask[]> {
    const eid = v.id(experimentId, "experimentId");
    const running = () => and(eq(actorTasks.experimentId, p("experimentId")), eq(actorTasks.status, "in_progress"));
    const stmt = this.rows("listRunning", () => ({ where: running(), orderBy: actorTasks.taskId }));
    return this.settle(stmt.all({ experimentId: eid }));
  }

  /**
   * `scheduled → in_progress`, recording the start time, in one conditional
   * statement. InvalidTransitionError from any other state; nothing written.
   * @example await db.actorTasks.start(taskId);
   */
  async start(id: number, time?: Date | string): Promise<void> {
    const taskId = v.id(id, "taskId");
    const t = v.optionalTime(time, "time");
    const stmt = this.compiled("start", () =>
      updateOf(this.db, actorTasks, { status: "in_progress", startedAt: slot("t") })
        .where(and(eq(actorTasks.taskId, p("id")), eq(actorTasks.status, "scheduled")))
        .prepare(),
    );
    const rs = await this.settle(stmt.run({ id: taskId, t }));
    if (rs.rowsAffected === 0) await this.explainRefusal(taskId, "in_progress");
  }

  /**
   * `in_progress → completed`, recording the end time and the duration since
   * the start, in one conditional statement.
   * @example await db.actorTasks.complete(taskId);
   */
  async complete(id: number, time?: Date | string): Promise<void> {
    const taskId = v.id(id, "taskId");
    const t = v.optionalTime(time, "time");
    const rs = await this.settle(this.#completeStmt().run({ id: taskId, t, ms: t.getTime() }));
    if (rs.rowsAffected === 0) await this.explainRefusal(taskId, "completed");
  }

  /**
   * `complete` and the task's pipeline's `advanceProgress` as ONE atomic
   * batch — one call, one request on a remote database — returning the
   * pipeline's counters after the increment:
   *
   * - the task goes `in_progress → completed` with the end time and the
   *   duration since its start (as `complete`);
   * - its pipeline's `shardsCompleted` grows by `progress.shards` (default 1)
   *   and `totalSamplesProcessed` by `progress.samples` (default 0), and
   *   `currentShardId` is set when given — atomic increments, so actors
   *   finishing shards of one pipeline at once never lose a count.
   *
   * Both statements are conditional on the task being `in_progress`, inside
   * one transaction: from any other state (or for a missing id) neither
   * writes anything and it throws InvalidTransitionError (NotFoundError),
   * after one more read to tell the two apart (as `complete`). Inside
   * `db.transaction` it runs in that transaction.
   * @example
   * const { shardsCompleted } = await db.actorTasks.completeWithProgress(taskId, { samples: 512, currentShardId: 7 });
   */
  async completeWithProgress(
    id: number,
    progress: AdvanceProgressInput = {},
    time?: Date | string,
  ): Promise<TaskCompletion> {
    const taskId = v.id(id, "taskId");
    const delta = progressDeltaInput.parse(progress, "progress");
    const t = v.optionalTime(time, "time");
    const advance = this.compiled("advanceTaskPipeline", () =>
      updateOf(this.db, pipelines, progressIncrement())
        // The task's pipeline, only while the task is in progress (the same condition as the completion below).
        .where(
          sql`${pipelines.pipelineId} = (select ${actorTasks.pipelineId} from ${actorTasks} where ${actorTasks.taskId} = ${p("id")} and ${actorTasks.status} = 'in_progress')`,
        )
        .prepare(),
    );
    // The counters after both updates, read in the same transaction. (A third statement instead of
    // RETURNING on the first: locally a RETURNING write needs a cursor and a changes() query, a plain
    // UPDATE one native call, and a single-row SELECT … LIMIT 1 another; remotely it is the same request.)
    const progressOf = this.compiled("taskPipelineProgress", () =>
      this.db
        .select({
          pipelineId: pipelines.pipelineId,
          currentShardId: pipelines.currentShardId,
          shardsCompleted: pipelines.shardsCompleted,
          totalSamplesProcessed: pipelines.totalSamplesProcessed,
        })
        .from(pipelines)
        .where(
          sql`${pipelines.pipelineId} = (select ${actorTasks.pipelineId} from ${actorTasks} where ${actorTasks.taskId} = ${p("id")})`,
        )
        .limit(1)
        .prepare(),
    );
    const complete = this.#completeStmt();
    const [advanced, completed, counters] = await this.settle(
      CompiledQuery.batch([
        { query: advance as CompiledQuery<unknown>, values: { id: taskId, ...delta } },
        { query: complete as CompiledQuery<unknown>, values: { id: taskId, t, ms: t.getTime() } },
        { query: progressOf as CompiledQuery<unknown>, values: { id: taskId } },
      ]),
    );
    const row = progressOf.decodeFirst(counters!);
    if (advanced!.rowsAffected === 0 || completed!.rowsAffected === 0 || row === undefined) {
      // Same predicate in one transaction: both wrote or neither did.
      if (advanced!.rowsAffected === 0 && completed!.rowsAffected === 0) await this.explainRefusal(taskId, "completed");
      throw new Error(`rf-inferno-db: inconsistent completion of actor task ${taskId} (foreign keys disabled?)`);
    }
    return row;
  }

  #completeStmt() {
    return this.compiled("complete", () =>
      updateOf(this.db, actorTasks, { status: "completed", completedAt: slot("t"), durationSeconds: elapsed })
        .where(and(eq(actorTasks.taskId, p("id")), eq(actorTasks.status, "in_progress")))
        .prepare(),
    );
  }

  /**
   * `scheduled | in_progress → failed`, recording the error and the end time
   * (and the duration when it had started), in one conditional statement.
   * @example await db.actorTasks.fail(taskId, "shard file missing");
   */
  async fail(id: number, error: string, time?: Date | string): Promise<void> {
    const taskId = v.id(id, "taskId");
    const where = () => and(eq(actorTasks.taskId, p("id")), inArray(actorTasks.status, actorTaskEntity.unfinished));
    const rs = await this.#failWhere("fail", where, taskId, error, time);
    if (rs.rowsAffected === 0) await this.explainRefusal(taskId, "failed");
  }

  /**
   * Claims the experiment's oldest `scheduled` task for an actor: moves it to
   * `in_progress` with the actor's id and the start time, and returns it
   * (`null` when none is left). One statement that re-checks the status in
   * its WHERE, so two actors never claim the same task.
   * @example
   * for (let t; (t = await db.actorTasks.claimNext(experimentId, actorId)); ) {
   *   await runShard(t.pipelineId, t.shardId);
   *   await db.actorTasks.complete(t.taskId);
   * }
   */
  async claimNext(experimentId: number, actorId: number, time?: Date | string): Promise<ActorTask | null> {
    const eid = v.id(experimentId, "experimentId");
    const aid = v.id(actorId, "actorId");
    const t = v.optionalTime(time, "time");
    const stmt = this.compiled("claimNext", () =>
      updateOf(this.db, actorTasks, { status: "in_progress", actorId: slot("actorId"), startedAt: slot("t") })
        .where(
          // Served by actor_tasks_experiment_status_idx (its entries are ordered by task_id within a status).
          sql`${actorTasks.taskId} = (select ${actorTasks.taskId} from ${actorTasks} where ${actorTasks.experimentId} = ${p("experimentId")} and ${actorTasks.status} = 'scheduled' order by ${actorTasks.taskId} limit 1) and ${actorTasks.status} = 'scheduled'`,
        )
        .returning()
        .prepare(),
    );
    return (await this.settle(stmt.get({ experimentId: eid, actorId: aid, t }))) ?? null;
  }

  /**
   * How many of the experiment's tasks are in each status (absent statuses are 0).
   * One row of four scalar subqueries, each a count over one
   * `(experiment_id, status)` range of `actor_tasks_experiment_status_idx`
   * — about twice as fast as `GROUP BY status` over the same entries.
   * @example const { completed, in_progress } = await db.actorTasks.countByStatus(experimentId);
   */
  async countByStatus(experimentId: number): Promise<Record<ActorTaskStatus, number>> {
    const eid = v.id(experimentId, "experimentId");
    const stmt = this.compiled("countByStatus", () =>
      this.db
        .select(
          Object.fromEntries(ACTOR_TASK_STATUSES.map((s) => [s, countOf(s)])) as Record<
            ActorTaskStatus,
            ReturnType<typeof countOf>
          >,
        )
        .from(experiments)
        .where(eq(experiments.experimentId, p("experimentId")))
        .prepare(),
    );
    const row = await this.settle(stmt.get({ experimentId: eid }));
    const counts = Object.fromEntries(ACTOR_TASK_STATUSES.map((s) => [s, 0])) as Record<ActorTaskStatus, number>;
    if (row) for (const s of ACTOR_TASK_STATUSES) counts[s] = Number(row[s]);
    return counts;
  }

  /**
   * Completed tasks of the experiment per actor (the actor that claimed each), by actor id.
   * @example const perActor = await db.actorTasks.countCompletedByActor(experimentId); // [{ actorId: 1, tasks: 12 }, …]
   */
  async countCompletedByActor(experimentId: number): Promise<{ actorId: number; tasks: number }[]> {
    const eid = v.id(experimentId, "experimentId");
    const stmt = this.compiled("countCompletedByActor", () =>
      this.db
        .select({ actorId: actorTasks.actorId, tasks: count() })
        .from(actorTasks)
        .where(and(eq(actorTasks.experimentId, p("experimentId")), eq(actorTasks.status, "completed")))
        .groupBy(actorTasks.actorId)
        .orderBy(actorTasks.actorId)
        .prepare(),
    );
    return this.settle(stmt.all({ experimentId: eid }));
  }

  /**
   * Fails every `scheduled` or `in_progress` task of the experiment, with the
   * error, the end time and (for started ones) the duration, in one
   * statement; returns how many it failed. For a controller abandoning a run
   * so that no task of it still looks alive.
   * @example const failed = await db.actorTasks.failUnfinished(experimentId, "interrupted (SIGINT)");
   */
  async failUnfinished(experimentId: number, error: string, time?: Date | string): Promise<number> {
    const eid = v.id(experimentId, "experimentId");
    const where = () =>
      and(eq(actorTasks.experimentId, p("id")), inArray(actorTasks.status, actorTaskEntity.unfinished));
    return (await this.#failWhere("failUnfinished", where, eid, error, time)).rowsAffected;
  }

  /** `→ failed` (error, end time, duration) for the rows `where` selects with `:id` = `id`. */
  async #failWhere(key: string, where: () => SQL | undefined, id: number, error: string, time?: Date | string) {
    const message = v.text(error, "error");
    const t = v.optionalTime(time, "time");
    const stmt = this.compiled(key, () => updateOf(this.db, actorTasks, failed).where(where()).prepare());
    return this.settle(stmt.run({ id, error: message, t, ms: t.getTime() }));
  }

  /** After a conditional update touched nothing: NotFoundError or InvalidTransitionError. */
  private async explainRefusal(taskId: number, to: ActorTaskStatus): Promise<never> {
    const row = await this.refusal(taskId);
    throw new InvalidTransitionError("actor task", taskId, row.status, to);
  }
}
