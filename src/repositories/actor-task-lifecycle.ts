/**
 * The actor task entity and its lifecycle: `start`, `complete`, `fail`,
 * `completeWithProgress` and `heartbeat`, each one conditional statement
 * (or one atomic batch), with the lease checks of `{ actorId }` (lease.ts).
 * `ActorTaskRepository` (actor-task-repository.ts) adds creating, claiming
 * and reading tasks.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import { InvalidTransitionError, LeaseLostError } from "../errors";
import { ACTOR_TASK_STATUSES, ACTOR_TASK_TRANSITIONS, actorTasks, pipelines, type ActorTaskStatus } from "../schema";
import * as v from "../validate";
import { slot } from "./base-repository";
import { CompiledQuery } from "./engine";
import { defineEntity } from "./entity";
import { field, type InputOf, inputSpec } from "./input";
import { type HolderOptions, leaseEnd, leaseMs, options, timeAndHolder } from "./lease";
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

/** `actorTasks.create`'s input; the defaults (status `scheduled`, maxAttempts 3) are the schema's. */
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
  /** Claims allowed before an expired lease fails the task instead of handing it out again; default 3. */
  maxAttempts: field.count().optional(),
});
export interface CreateActorTaskInput extends InputOf<typeof actorTaskInput> {}

/** What `completeWithProgress` returns: the task's pipeline and its progress counters after the increment. */
export interface TaskCompletion extends PipelineProgress {
  pipelineId: number;
}

/** The task's duration at `:ms`, by the one duration policy (lifecycle.ts). */
export const elapsed = elapsedSeconds(actorTasks.startedAt);

/** `→ failed` with `:error`, the end time `:t` and the duration at `:ms`; the lease ends (its holder is kept). */
export const failed = {
  status: "failed",
  errorMessage: slot("error"),
  completedAt: slot("t"),
  durationSeconds: elapsed,
  leaseExpiresAt: null,
} as const;

/** `→ completed` with the end time `:t` and the duration at `:ms`; the lease ends (its holder is kept). */
const completed = {
  status: "completed",
  completedAt: slot("t"),
  durationSeconds: elapsed,
  leaseExpiresAt: null,
} as const;

/** `task_id = :id AND status = 'in_progress'` (and, with a holder, `AND lease_owner = :actorId`). */
const inProgress = (leased: boolean) =>
  and(
    eq(actorTasks.taskId, p("id")),
    eq(actorTasks.status, "in_progress"),
    leased ? eq(actorTasks.leaseOwner, p("actorId")) : undefined,
  );

/** The lifecycle half of `db.actorTasks` (see the module comment). */
export abstract class ActorTaskLifecycle extends TimedLifecycleRepository<typeof actorTaskEntity> {
  protected readonly entity = actorTaskEntity;

  /**
   * `scheduled → in_progress`, recording the start time, in one conditional
   * statement. The task's actor holds it without a lease end (it never
   * expires; `claimNext` grants leases that do). InvalidTransitionError from
   * any other state; nothing written.
   * @example await db.actorTasks.start(taskId);
   */
  async start(id: number, time?: Date | string): Promise<void> {
    const taskId = v.id(id, "taskId");
    const t = v.optionalTime(time, "time");
    const stmt = this.compiled("start", () =>
      updateOf(this.db, actorTasks, {
        status: "in_progress",
        startedAt: slot("t"),
        leaseOwner: sql`${actorTasks.actorId}`,
        attempts: sql`${actorTasks.attempts} + 1`,
      })
        .where(and(eq(actorTasks.taskId, p("id")), eq(actorTasks.status, "scheduled")))
        .prepare(),
    );
    const rs = await this.settle(stmt.run({ id: taskId, t }));
    if (rs.rowsAffected === 0) await this.explainRefusal(taskId, "in_progress");
  }

  /**
   * `in_progress → completed`, recording the end time and the duration since
   * the start, in one conditional statement. With `{ actorId }` (last
   * argument) only while that actor holds the task's lease: LeaseLostError
   * otherwise, nothing written.
   * @example await db.actorTasks.complete(taskId);
   * @example await db.actorTasks.complete(task.taskId, { actorId });
   */
  async complete(id: number, time?: Date | string | HolderOptions, holder?: HolderOptions): Promise<void> {
    const taskId = v.id(id, "taskId");
    const { time: t, actorId } = timeAndHolder(time, holder);
    const stmt = this.#completeStmt(actorId !== undefined);
    const rs = await this.settle(stmt.run({ id: taskId, t, ms: t.getTime(), actorId }));
    if (rs.rowsAffected === 0) await this.explainRefusal(taskId, "completed", actorId);
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
   * Both statements are conditional on the task being `in_progress` (and,
   * with `{ actorId }` as the last argument, on that actor holding its
   * lease), inside one transaction: otherwise neither writes anything and it
   * throws InvalidTransitionError / LeaseLostError (NotFoundError for a
   * missing id), after one more read to tell them apart. Inside
   * `db.transaction` it runs in that transaction.
   * @example
   * const { shardsCompleted } = await db.actorTasks.completeWithProgress(taskId, { samples: 512, currentShardId: 7 }, { actorId });
   */
  async completeWithProgress(
    id: number,
    progress: AdvanceProgressInput = {},
    time?: Date | string | HolderOptions,
    holder?: HolderOptions,
  ): Promise<TaskCompletion> {
    const taskId = v.id(id, "taskId");
    const delta = progressDeltaInput.parse(progress, "progress");
    const { time: t, actorId } = timeAndHolder(time, holder);
    const { advance, complete, progressOf } = this.completion(actorId !== undefined);
    const [advanced, done, counters] = await this.settle(
      CompiledQuery.batch([
        { query: advance as CompiledQuery<unknown>, values: { id: taskId, actorId, ...delta } },
        { query: complete as CompiledQuery<unknown>, values: { id: taskId, t, ms: t.getTime(), actorId } },
        { query: progressOf as CompiledQuery<unknown>, values: { id: taskId } },
      ]),
    );
    return this.completed(taskId, actorId, advanced!, done!, progressOf.decodeFirst(counters!));
  }

  /**
   * The statements of a completion with progress (`completeWithProgress`, `completeAndClaimNext`):
   * the pipeline's increments and the task's completion, both conditional on the task being in
   * progress (and leased to `:actorId` when `leased`), and the counters read afterwards.
   */
  protected completion(leased: boolean) {
    const advance = this.compiled(leased ? "advanceTaskPipelineLeased" : "advanceTaskPipeline", () =>
      updateOf(this.db, pipelines, progressIncrement())
        // The task's pipeline, only while the task is in progress (the same condition as the completion below).
        .where(
          sql`${pipelines.pipelineId} = (select ${actorTasks.pipelineId} from ${actorTasks} where ${inProgress(leased)})`,
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
    return { advance, complete: this.#completeStmt(leased), progressOf };
  }

  /** The outcome of a completion's statements: the counters, or why nothing was written (thrown). */
  protected async completed(
    taskId: number,
    actorId: number | undefined,
    advanced: { rowsAffected: number },
    done: { rowsAffected: number },
    row: TaskCompletion | undefined,
  ): Promise<TaskCompletion> {
    if (advanced.rowsAffected === 0 || done.rowsAffected === 0 || row === undefined) {
      // Same predicate in one transaction: both wrote or neither did.
      if (advanced.rowsAffected === 0 && done.rowsAffected === 0)
        await this.explainRefusal(taskId, "completed", actorId);
      throw new Error(`rf-inferno-db: inconsistent completion of actor task ${taskId} (foreign keys disabled?)`);
    }
    return row;
  }

  #completeStmt(leased: boolean) {
    return this.compiled(leased ? "completeLeased" : "complete", () =>
      updateOf(this.db, actorTasks, completed).where(inProgress(leased)).prepare(),
    );
  }

  /**
   * `scheduled | in_progress → failed`, recording the error and the end time
   * (and the duration when it had started), in one conditional statement.
   * With `{ actorId }` (last argument): only `in_progress` and only while
   * that actor holds the lease, else LeaseLostError, nothing written.
   * @example await db.actorTasks.fail(taskId, "shard file missing");
   * @example await db.actorTasks.fail(task.taskId, "CUDA out of memory", { actorId });
   */
  async fail(id: number, error: string, time?: Date | string | HolderOptions, holder?: HolderOptions): Promise<void> {
    const taskId = v.id(id, "taskId");
    const message = v.text(error, "error");
    const { time: t, actorId } = timeAndHolder(time, holder);
    const leased = actorId !== undefined;
    const stmt = this.compiled(leased ? "failLeased" : "fail", () =>
      updateOf(this.db, actorTasks, failed)
        .where(
          leased
            ? inProgress(true)
            : and(eq(actorTasks.taskId, p("id")), inArray(actorTasks.status, actorTaskEntity.unfinished)),
        )
        .prepare(),
    );
    const rs = await this.settle(stmt.run({ id: taskId, error: message, t, ms: t.getTime(), actorId }));
    if (rs.rowsAffected === 0) await this.explainRefusal(taskId, "failed", actorId);
  }

  /**
   * Extends the lease of a task `actorId` holds to `leaseMs` (default 60000)
   * from now (the database's clock), and returns its new end. One statement.
   * LeaseLostError when the actor no longer holds it (it was re-taken,
   * re-queued or finished), nothing written. Call it well within the lease
   * (e.g. every leaseMs / 3) while working on a long shard.
   * @example const until = await db.actorTasks.heartbeat(task.taskId, actorId, { leaseMs: 30_000 });
   */
  async heartbeat(taskId: number, actorId: number, opts?: { leaseMs?: number }): Promise<Date> {
    const id = v.id(taskId, "taskId");
    const aid = v.id(actorId, "actorId");
    const ms = leaseMs(options(opts, "options", ["leaseMs"]).leaseMs);
    const stmt = this.compiled("heartbeat", () =>
      updateOf(this.db, actorTasks, { leaseExpiresAt: leaseEnd })
        .where(inProgress(true))
        .returning({ leaseExpiresAt: actorTasks.leaseExpiresAt })
        .prepare(),
    );
    const row = await this.settle(stmt.get({ id, actorId: aid, leaseMs: ms }));
    if (row?.leaseExpiresAt) return row.leaseExpiresAt;
    return this.explainRefusal(id, "in_progress", aid);
  }

  /**
   * After a conditional update touched nothing: NotFoundError; with a holder,
   * LeaseLostError unless the holder itself already finished the task
   * (then, as without one, InvalidTransitionError).
   */
  protected async explainRefusal(taskId: number, to: ActorTaskStatus, actorId?: number): Promise<never> {
    const row = await this.refusal(taskId);
    const owner = (row.leaseOwner ?? null) as number | null;
    const finishedByCaller = (row.status === "completed" || row.status === "failed") && owner === actorId;
    if (actorId !== undefined && !finishedByCaller) {
      const holder = row.status === "in_progress" && owner !== null ? `actor ${owner}` : null;
      throw new LeaseLostError("actor task", taskId, row.status, to, { holder, caller: `actor ${actorId}` });
    }
    throw new InvalidTransitionError("actor task", taskId, row.status, to);
  }
}
